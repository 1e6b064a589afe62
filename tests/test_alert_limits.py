"""Issue 15, points 4 and 5: the alert body may not decide what the intake asks Log Analytics.

Through the real HTTP function (``func.HttpRequest``) and the real intake queue function; the
simulator records every Log Analytics call, so "no query went out" is checked where it would land.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

from tests.helpers import http_request, raw_queue_bodies, run_intake

ALERT = Path(__file__).resolve().parent / "fixtures" / "payloads" / "alert_log_v2_no_rows.json"
FIXTURE_WORKSPACE = "7e9d1c2b-4a5f-4e6d-9c8b-1a2b3c4d5e6f"  # the workspace the fixture's links name
OTHER_WORKSPACE = "0badc0de-0000-4000-8000-000000000001"


def _stamp(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f0Z")  # 7 fractional digits, as Azure sends


def alert(
    *,
    start: datetime | str | None = None,
    end: datetime | str | None = None,
    workspace: str | None = None,
    alert_id: str = "a1",
) -> dict[str, Any]:
    """The fixture's Log Alerts V2 alert, about ``workspace`` (default: the configured one), over
    [start, end] (default: the last 10 minutes)."""
    text = ALERT.read_text().replace(FIXTURE_WORKSPACE, workspace or os.environ["LOG_ANALYTICS_WORKSPACE_ID"])
    body = json.loads(text)
    now = datetime.now(UTC)
    start = start or now - timedelta(minutes=10)
    end = end or now
    cond = body["data"]["alertContext"]["condition"]
    cond["windowStartTime"] = start if isinstance(start, str) else _stamp(start)
    cond["windowEndTime"] = end if isinstance(end, str) else _stamp(end)
    body["data"]["essentials"]["alertId"] += "-" + alert_id
    return body


async def post(app_functions: dict[str, Any], body: Any) -> tuple[int, dict[str, Any]]:
    response = await app_functions["monitor_alert"].get_user_function()(http_request(json.dumps(body).encode()))
    return response.status_code, json.loads(response.get_body())


async def assert_nothing_queried(sim: Any, app_functions: dict[str, Any]) -> None:
    assert await raw_queue_bodies("webex-intake") == [], "nothing queued for the intake"
    await run_intake(app_functions)
    assert await sim.requests(path="/loganalytics/") == [], "no Log Analytics query went out"


async def test_a_well_formed_alert_is_still_queried_once(sim: Any, app_functions: dict[str, Any]) -> None:
    status, answer = await post(app_functions, alert())
    assert status == 202 and answer["alerts"] == 1
    assert await run_intake(app_functions) == 1
    assert len(await sim.requests(path="/loganalytics/", method="POST")) == 1


async def test_alert_about_another_workspace_is_refused(sim: Any, app_functions: dict[str, Any]) -> None:
    status, answer = await post(app_functions, alert(workspace=OTHER_WORKSPACE))
    assert status == 400
    assert "LOG_ANALYTICS_WORKSPACE_ID" in answer["error"]
    await assert_nothing_queried(sim, app_functions)


async def test_legacy_alert_naming_another_workspace_is_refused(sim: Any, app_functions: dict[str, Any]) -> None:
    """The legacy Log Analytics context names its workspace in ``WorkspaceId``."""
    now = datetime.now(UTC)
    body = {
        "schemaId": "azureMonitorCommonAlertSchema",
        "data": {
            "essentials": {"alertId": "legacy-1", "signalType": "Log", "monitorCondition": "Fired"},
            "alertContext": {
                "SearchIntervalStartTimeUtc": _stamp(now - timedelta(minutes=5)),
                "SearchIntervalEndtimeUtc": _stamp(now),
                "WorkspaceId": OTHER_WORKSPACE.upper(),
            },
        },
    }
    status, _ = await post(app_functions, body)
    assert status == 400
    body["data"]["alertContext"]["WorkspaceId"] = os.environ["LOG_ANALYTICS_WORKSPACE_ID"].upper()
    status, _ = await post(app_functions, body)
    assert status == 202, "the configured workspace, whatever its letter case, is accepted"


@pytest.mark.parametrize(
    ("start", "end", "reason"),
    [
        ("2000-01-01T00:00:00Z", None, "h long"),  # the red team's query from 2000-01-01
        (timedelta(days=2, minutes=1), None, "h long"),
        (None, "9999-12-31T23:59:59.9999999Z", "not in the past"),  # point 5: was 202, then poison
        (None, "9999-12-31T23:00:00-05:00", "unreadable"),  # past year 9999 in UTC: was a 500
        ("0001-01-01T00:00:00+01:00", None, "unreadable"),
        ("0001-01-01T00:00:00Z", "0001-01-01T00:10:00Z", "not in the past"),
        (timedelta(minutes=-5), None, "ends before it starts"),
        (timedelta(hours=-2), timedelta(hours=-3), "not in the past"),  # ends 3 h from now
    ],
)
async def test_unbounded_or_impossible_windows_are_refused(
    sim: Any, app_functions: dict[str, Any], start: Any, end: Any, reason: str
) -> None:
    now = datetime.now(UTC)
    if isinstance(start, timedelta):
        start = now - start
    if isinstance(end, timedelta):
        end = now - end
    if isinstance(end, datetime) and start is None:
        start = end - timedelta(minutes=10)
    if isinstance(end, str) and start is None:
        start = "9999-12-31T23:00:00Z"
    status, answer = await post(app_functions, alert(start=start, end=end))
    assert status == 400, answer
    assert reason in answer["error"]
    await assert_nothing_queried(sim, app_functions)


async def test_a_window_of_two_days_is_the_limit(sim: Any, app_functions: dict[str, Any]) -> None:
    now = datetime.now(UTC)
    status, _ = await post(app_functions, alert(start=now - timedelta(days=2), end=now))
    assert status == 202


async def test_more_than_50_alerts_in_one_request_are_refused(sim: Any, app_functions: dict[str, Any]) -> None:
    many = [alert(alert_id=str(n)) for n in range(51)]
    status, answer = await post(app_functions, many)
    assert status == 400
    assert "51 alerts in one request; at most 50" in answer["error"]
    await assert_nothing_queried(sim, app_functions)

    status, answer = await post(app_functions, many[:50])
    assert status == 202 and answer["alerts"] == 50


async def test_without_a_configured_workspace_the_alert_is_not_queried(
    sim: Any, app_functions: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The payload's workspace used to stand in for a missing setting: now a configuration error
    (503 and a critical log), and the workspace the alert names is not queried."""
    from shared.app.runtime import reset_services
    from shared.core.settings import reset_settings

    configured = os.environ["LOG_ANALYTICS_WORKSPACE_ID"]
    monkeypatch.setenv("LOG_ANALYTICS_WORKSPACE_ID", "")
    reset_settings()
    await reset_services()
    status, answer = await post(app_functions, alert(workspace=configured))
    assert status == 503 and answer == {"error": "configuration error"}
    await assert_nothing_queried(sim, app_functions)


def _queued(window: dict[str, Any]) -> func.QueueMessage:
    from shared.detect.intake import IntakeMessage

    message = IntakeMessage("alert", "a1", alerts=({"alert_id": "a1", "condition": "Fired", **window},))
    return func.QueueMessage(id="m1", body=message.to_json().encode())


@pytest.mark.parametrize(
    "window",
    [
        {"start": "9999-12-31T23:50:00Z", "end": "9999-12-31T23:59:59Z"},  # raised OverflowError
        {"start": "2000-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
        {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T00:10:00Z", "workspace_id": OTHER_WORKSPACE},
    ],
    ids=["year-9999", "26-years", "other-workspace"],
)
async def test_intake_drops_a_bad_window_with_a_clear_log(
    sim: Any, app_functions: dict[str, Any], caplog: pytest.LogCaptureFixture, window: dict[str, Any]
) -> None:
    """A message queued before the endpoint checked (or written by someone with queue access) is
    logged and consumed: no raise (so no retries and no poison), no query."""
    caplog.set_level(logging.INFO)
    await app_functions["intake_process"].get_user_function()(_queued(window))
    assert await sim.requests(path="/loganalytics/") == []
    assert "alert a1 not re-queried (dropped, not retried)" in caplog.text


async def test_an_alert_inside_an_event_grid_event_gets_the_same_checks(
    sim: Any, app_functions: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """Event Grid data is normalized like any payload, so an alert can arrive that way too."""
    from tests.helpers import eventgrid_event

    caplog.set_level(logging.INFO)
    handler = app_functions["eventgrid_audit"].get_user_function()
    await handler(eventgrid_event(alert(workspace=OTHER_WORKSPACE), event_id="evt-other-workspace"))
    assert "evt-other-workspace rejected (not retried)" in caplog.text
    await assert_nothing_queried(sim, app_functions)
    await handler(eventgrid_event(alert(), event_id="evt-good"))
    assert len(await raw_queue_bodies("webex-intake")) == 1, "a good alert still goes through"
