"""Issue 3, item 5: every detection path lands on the same incident, and a recovery signal asks for
verification instead of closing anything. Real triggers, the real intake queue (Azurite), the
simulator's Graph, Log Analytics and Webex; assertions on what the simulator recorded."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import eventgrid_event, http_request, incidents, receive_verify_messages, run_intake
from tests.notice_helpers import CHANNEL_PATHS, delivered, enable_all_channels, notice_text

ALERT_V2 = Path(__file__).parent / "fixtures" / "reference" / "azmon_common_alert_full_LogAlertsV2_webhook.json"
ALERT_ID = "/subscriptions/0000/providers/Microsoft.AlertsManagement/alerts/9f1c4a52-webex-sp-deleted"


def alert_body(condition: str, *, start: datetime, end: datetime, alert_id: str = ALERT_ID) -> bytes:
    """The documented Log Alerts V2 webhook, re-aimed at our rule's window (no rows inside)."""
    alert = json.loads(ALERT_V2.read_text())
    essentials = alert["data"]["essentials"]
    essentials["alertId"] = alert_id
    essentials["alertRule"] = "webex-sp-deleted"
    essentials["monitorCondition"] = condition
    window = alert["data"]["alertContext"]["condition"]
    window["windowStartTime"] = start.strftime("%Y-%m-%dT%H:%M:%S.%f0Z")  # 7 digits, as Azure sends
    window["windowEndTime"] = end.strftime("%Y-%m-%dT%H:%M:%S.%f0Z")
    return json.dumps(alert).encode()


async def test_same_deletion_by_alert_event_grid_and_timer_is_one_incident(
    sim: Any, app_functions: dict[str, Any], monkeypatch: pytest.MonkeyPatch, services_env: dict[str, str]
) -> None:
    from azure.functions.timer import TimerRequest

    await enable_all_channels(monkeypatch, services_env)  # e-mail, Webex, Teams and the signed webhook
    (record,) = await sim.delete("integration", actor="mallory@contoso.example")
    now = datetime.now(UTC)
    alert = app_functions["monitor_alert"].get_user_function()
    # The action group delivers the alert 6 times (retries), one of them the later Resolved.
    for condition in ("Fired", "Fired", "Fired", "Resolved", "Fired", "Fired"):
        response = await alert(http_request(alert_body(condition, start=now - timedelta(minutes=5), end=now)))
        assert response.status_code == 202
        answer = json.loads(response.get_body())
        assert answer["queued"] == (0 if condition == "Resolved" else 1)
    assert await sim.requests() == [], "no Graph / Log Analytics / Webex call before the 202"
    assert await run_intake(app_functions) == 5

    queries = await sim.requests(path="/loganalytics/", method="POST")
    assert len(queries) == 1, "five Fired deliveries re-query the workspace once"
    (inc,) = await incidents()
    assert inc.kind == "integration_deleted"
    assert inc.first_record_id == record["id"]
    assert inc.sources == ("loganalytics",)
    assert inc.initiator_label == "mallory@contoso.example"

    eventgrid = app_functions["eventgrid_audit"].get_user_function()
    await eventgrid(eventgrid_event(record))
    assert await run_intake(app_functions) == 1

    health = app_functions["health_check"].get_user_function()
    await health(TimerRequest(past_due=False))

    (inc,) = await incidents()
    assert inc.state == "notified"
    assert "health" in inc.sources, "the timer found the same outage and joined the incident"
    # Exactly one notice per channel, all for this incident (every POST counted, accepted or not).
    for channel, path in CHANNEL_PATHS.items():
        posts = await sim.requests(path=path, method="POST")
        assert len(posts) == 1, f"{channel}: {len(posts)} notices"
        assert inc.incident_id in notice_text(channel, posts[0]), channel
    assert {c: len(v) for c, v in (await delivered(sim)).items()} == dict.fromkeys(CHANNEL_PATHS, 1)
    assert len((await sim.state())["sent_mails"]) == 1


async def test_restored_signal_asks_for_verification_and_closes_nothing(
    sim: Any, app_functions: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.app.runtime import reset_services
    from shared.core.settings import reset_settings

    monkeypatch.setenv("VERIFY_DELAYS", "600")  # the scheduled run stays invisible during the test
    reset_settings()
    await reset_services()

    eventgrid = app_functions["eventgrid_audit"].get_user_function()
    (deleted,) = await sim.delete("integration", actor="mallory@contoso.example")
    await eventgrid(eventgrid_event(deleted))
    await run_intake(app_functions)
    (inc,) = await incidents()
    assert await receive_verify_messages(wait=0.3) == [], "first run is 600 s away"

    consent = await sim.consent(actor="admin@contoso.example")
    await eventgrid(eventgrid_event(consent["records"]))  # "Consent to application", "Add service principal"…
    assert await run_intake(app_functions) == 1
    (still,) = await incidents()
    assert still.incident_id == inc.incident_id and still.state != "resolved", "a restore signal closes nothing"

    # One request per restore record (consent writes several); the attempt number makes the extra
    # messages no-ops in the verify function.
    msgs = await receive_verify_messages(wait=1, expect=len(consent["records"]))
    assert msgs, "verification requested now"
    assert {json.loads(m.get_body())["incident_id"] for m in msgs} == {inc.incident_id}
    verify = app_functions["verify_incident"].get_user_function()
    for msg in msgs:
        await verify(msg)
    (done,) = await incidents()
    assert done.state == "resolved", "the verification run, not the signal, resolves it"


async def test_alert_requery_uses_the_alert_query_setting(
    sim: Any, app_functions: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tenant's own KQL (``ALERT_QUERY``) replaces the shipped one in the re-query it sends."""
    from shared.app.runtime import reset_services
    from shared.core.settings import reset_settings

    custom = 'AuditLogs | where OperationName =~ "Remove service principal" // tenant override'
    monkeypatch.setenv("ALERT_QUERY", custom)
    reset_settings()
    await reset_services()
    await sim.delete("integration")
    now = datetime.now(UTC)
    alert = app_functions["monitor_alert"].get_user_function()
    response = await alert(http_request(alert_body("Fired", start=now - timedelta(minutes=5), end=now)))
    assert response.status_code == 202
    await run_intake(app_functions)
    (query,) = await sim.requests(path="/loganalytics/", method="POST")
    assert query["json"]["query"] == custom
