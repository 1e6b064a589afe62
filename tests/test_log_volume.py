"""Log volume: one incident lifecycle at the worker's default level (root logger at INFO) is the
project's own lines, not the SDKs' request logs; ``SDK_LOG_LEVEL`` brings those back for debugging.

The worker sets the root logger to INFO; before the SDK loggers were quietened, 229 of 264 lines of
one lifecycle came from azure-core's HTTP logging policy, azure-identity and httpx.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.core.sdklogs import SDK_LOGGERS, configure_sdk_logging, sdk_log_level
from tests.helpers import eventgrid_event, incidents, receive_verify_messages, run_intake

ROOT = Path(__file__).resolve().parent.parent
LIFECYCLE_EVENTS = {"incident_opened", "notice_sent", "incident_resolved"}


@pytest.fixture(autouse=True)
def _keep_logger_levels() -> Iterator[None]:
    saved = {name: logging.getLogger(name).level for name in SDK_LOGGERS}
    yield
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


def is_sdk(record: logging.LogRecord) -> bool:
    return any(record.name == name or record.name.startswith(name + ".") for name in SDK_LOGGERS)


async def lifecycle(sim: Any, app_functions: dict[str, Any]) -> None:
    """Deletion → Event Grid → intake → incident and notices → a failed verification → consent → resolved."""
    records = await sim.delete("integration", actor="mallory@contoso.example")
    await app_functions["eventgrid_audit"].get_user_function()(eventgrid_event(records[0]))
    assert await run_intake(app_functions) == 1
    verify = app_functions["verify_incident"].get_user_function()
    (msg,) = await receive_verify_messages()
    await verify(msg)
    await sim.consent(actor="admin@contoso.example")
    (msg,) = await receive_verify_messages()
    await verify(msg)
    assert [i.state for i in await incidents()] == ["resolved"]


async def test_sdk_lines_are_at_most_a_tenth_of_a_lifecycle(
    sim: Any, app_functions: dict[str, Any], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SDK_LOG_LEVEL", raising=False)
    configure_sdk_logging()  # what function_app does at import (checked below in a fresh interpreter)
    caplog.set_level(logging.INFO)  # the worker's root level

    await lifecycle(sim, app_functions)

    sdk = [r for r in caplog.records if is_sdk(r)]
    assert len(caplog.records) >= 8, "the lifecycle logs its own events"
    assert len(sdk) <= 0.10 * len(caplog.records), [f"{r.name}: {r.getMessage()[:80]}" for r in sdk]
    events = {getattr(r, "event", None) for r in caplog.records}
    assert events >= LIFECYCLE_EVENTS, f"lifecycle events missing: {LIFECYCLE_EVENTS - events}"


async def test_sdk_log_level_brings_the_sdk_lines_back(
    sim: Any, app_functions: dict[str, Any], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SDK_LOG_LEVEL", "info")
    assert configure_sdk_logging() == "INFO"
    caplog.set_level(logging.INFO)

    await lifecycle(sim, app_functions)

    names = {r.name for r in caplog.records if is_sdk(r)}
    assert "azure.core.pipeline.policies.http_logging_policy" in names
    assert "httpx" in names
    assert any(n.startswith("azure.identity") for n in names)
    events = {getattr(r, "event", None) for r in caplog.records}
    assert events >= LIFECYCLE_EVENTS


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", ("WARNING", True)),
        ("  ", ("WARNING", True)),
        ("debug", ("DEBUG", True)),
        ("ERROR", ("ERROR", True)),
        ("verbose", ("WARNING", False)),
        ("10", ("WARNING", False)),
        ("INFO\nDEBUG", ("WARNING", False)),
        ("x" * 10_000, ("WARNING", False)),
    ],
)
def test_sdk_log_level_values(value: str, expected: tuple[str, bool]) -> None:
    assert sdk_log_level({"SDK_LOG_LEVEL": value}) == expected


def test_an_unknown_level_is_reported_and_keeps_the_default(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="shared.core.sdklogs")
    assert configure_sdk_logging({"SDK_LOG_LEVEL": "loud"}) == "WARNING"
    assert logging.getLogger("azure.identity").getEffectiveLevel() == logging.WARNING
    assert any("SDK_LOG_LEVEL" in r.getMessage() for r in caplog.records)


def test_the_worker_quietens_the_sdks_when_it_imports_the_app() -> None:
    """In a fresh interpreter, as the worker does: importing function_app sets the SDK loggers' level."""
    probe = (
        "import logging, function_app\n"
        "print(logging.getLogger('azure.core.pipeline.policies.http_logging_policy').getEffectiveLevel(),"
        " logging.getLogger('httpx').getEffectiveLevel(), logging.getLogger('azure.identity').getEffectiveLevel())"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["30", "30", "30"]
    debug = {**env, "SDK_LOG_LEVEL": "DEBUG"}
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=debug, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["10", "10", "10"], out.stderr[-2000:]
