"""Structured incident fields on log records, and the telemetry switch."""

from __future__ import annotations

import asyncio
import logging

import pytest

from shared import logcontext, telemetry


@pytest.fixture(autouse=True)
def _installed() -> None:
    logcontext.install()


def test_bound_fields_land_on_records_from_any_logger(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with logcontext.bind(tenant_id="t-1", incident_id="inc-1"):
        logging.getLogger("azure.core.somewhere.deep").info("retrying")
        with logcontext.bind(app="integration"):
            logging.getLogger("shared.notices").info("sent")
    logging.getLogger("shared.x").info("after")
    first, second, after = caplog.records
    assert (first.tenant_id, first.incident_id) == ("t-1", "inc-1")  # type: ignore[attr-defined]
    assert second.app == "integration" and second.incident_id == "inc-1"  # type: ignore[attr-defined]
    assert not hasattr(after, "incident_id")


def test_none_is_skipped_and_other_extras_still_work(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with logcontext.bind(tenant_id="t-1", incident_id=None):
        logging.getLogger("x").info("m", extra={"channel": "email"})
    (record,) = caplog.records
    assert record.tenant_id == "t-1" and record.channel == "email"  # type: ignore[attr-defined]
    assert not hasattr(record, "incident_id")


def test_unknown_field_is_refused() -> None:
    with pytest.raises(ValueError, match="incidnet_id"), logcontext.bind(incidnet_id="x"):
        pass


def test_install_is_idempotent() -> None:
    factory = logging.getLogRecordFactory()
    logcontext.install()
    assert logging.getLogRecordFactory() is factory


async def test_concurrent_tasks_do_not_see_each_others_fields(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)

    async def handle(incident: str) -> None:
        with logcontext.bind(incident_id=incident):
            await asyncio.sleep(0)
            logging.getLogger("w").info("working on %s", incident)

    await asyncio.gather(*(handle(f"inc-{n}") for n in range(20)))
    assert all(r.incident_id == r.args[0] for r in caplog.records)  # type: ignore[attr-defined,index]


def test_exporter_only_when_azure_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not telemetry.otel_enabled({})
    assert not telemetry.otel_enabled({"APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=x"})
    assert not telemetry.otel_enabled({"PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY": "true"})
    assert telemetry.otel_enabled(
        {
            "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY": "True",
            "APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=x",
        }
    )
    monkeypatch.delenv("APPLICATIONINSIGHTS_CONNECTION_STRING", raising=False)
    assert telemetry.configure() is False  # locally: the factory only, nothing heavy imported
