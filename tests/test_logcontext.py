"""Structured incident fields on log records, and the telemetry switch."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from shared.core import logcontext, telemetry


@pytest.fixture(autouse=True)
def _installed() -> None:
    logcontext.install()


def test_bound_fields_land_on_records_from_any_logger(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with logcontext.bind(tenant_id="t-1", incident_id="inc-1"):
        logging.getLogger("azure.core.somewhere.deep").warning("retrying")  # SDKs log at WARNING+ by default
        with logcontext.bind(app="integration"):
            logging.getLogger("shared.incidents.notices").info("sent")
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
    assert not telemetry.otel_enabled({"PYTHON_ENABLE_OPENTELEMETRY": "true"})
    assert not telemetry.otel_enabled(  # the setting the worker no longer reads to stream OTel logs
        {"PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY": "true", "APPLICATIONINSIGHTS_CONNECTION_STRING": "x"}
    )
    assert telemetry.otel_enabled(
        {
            "PYTHON_ENABLE_OPENTELEMETRY": "True",
            "APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=x",
        }
    )
    monkeypatch.delenv("APPLICATIONINSIGHTS_CONNECTION_STRING", raising=False)
    assert telemetry.configure() is False  # locally: the factory only, nothing heavy imported


def test_code_binds_fields_instead_of_passing_them_as_extra() -> None:
    """``extra={"incident_id": ...}`` inside a bound block would collide with the factory
    (``logging`` refuses to overwrite a record attribute), so the code must use ``bind``."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    offenders = []
    for path in [*root.joinpath("shared").rglob("*.py"), *root.joinpath("functions").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.keyword) and node.arg == "extra" and isinstance(node.value, ast.Dict):
                keys = {k.value for k in node.value.keys if isinstance(k, ast.Constant)}
                if keys & set(logcontext.FIELDS):
                    offenders.append(f"{path.relative_to(root)}:{node.value.lineno}")
    assert offenders == []


async def test_every_incident_line_of_a_lifecycle_carries_its_fields(
    sim: Any, app_functions: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """Deletion → intake → notices → verification → resolved: each line that names the incident
    carries ``incident_id`` and ``tenant_id`` as fields, and the lifecycle events the README's KQL
    reads are there with their fields."""
    from tests.helpers import deliver_event, incidents, receive_verify_messages

    caplog.set_level(logging.DEBUG)
    records = await sim.delete("integration", actor="mallory@contoso.example")
    await deliver_event(app_functions, records[0])
    (inc,) = await incidents()
    await sim.consent()
    verify = app_functions["verify_incident"].get_user_function()
    for msg in await receive_verify_messages(wait=8.0):
        await verify(msg)

    naming = [r for r in caplog.records if inc.incident_id in r.getMessage()]
    assert len(naming) >= 5
    for r in naming:
        assert getattr(r, "incident_id", None) == inc.incident_id, r.getMessage()
        assert getattr(r, "tenant_id", None) == inc.tenant_id, r.getMessage()
    events: dict[str, list[logging.LogRecord]] = {}
    for r in caplog.records:
        if hasattr(r, "event"):
            events.setdefault(r.event, []).append(r)  # type: ignore[attr-defined]
    assert len(events["incident_opened"]) == 1
    assert events["incident_opened"][0].kind == "integration_deleted"  # type: ignore[attr-defined]
    assert {r.channel for r in events["notice_sent"]} == {"email", "webex"}  # type: ignore[attr-defined]
    (resolved,) = events["incident_resolved"]
    assert resolved.incident_id == inc.incident_id and resolved.ttr_seconds > 0  # type: ignore[attr-defined]
