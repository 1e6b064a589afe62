"""Issue 7, item 3: the platform behaviours the code must respect, as tests.

* Event Grid gives an endpoint 30 s and retries slow answers: the ack must not wait for Graph.
* Action groups re-deliver an alert up to 6 times, and a Resolved may overtake its Fired.
* A past-due timer tick runs once, never a burst.
* Queue messages use the host's base64 encoding, on both queues.
* Permanent input errors are answered 400 (Event Grid dead-letters, no retry storm); a failed
  durable write is a 503 / a raise so the sender retries.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.core.errors import TransientError
from tests.helpers import (
    eventgrid_event,
    http_request,
    incidents,
    raw_queue_bodies,
    receive_messages,
    run_intake,
)
from tests.test_detection_paths import alert_body


async def test_eventgrid_ack_does_not_wait_for_a_slow_graph(sim: Any, app_functions: dict[str, Any]) -> None:
    (record,) = await sim.delete("integration", actor="mallory@contoso.example")
    await sim.add_fault("/graph/", delay=20, times=None)  # Graph answers after 20 s, if ever asked
    await sim.add_fault("/loganalytics/", delay=20, times=None)
    await sim.clear_requests()

    handler = app_functions["eventgrid_audit"].get_user_function()
    await handler(eventgrid_event(record))
    assert await sim.requests() == [], "no Graph, token, Log Analytics or Webex call during the trigger"
    assert await incidents() == [], "no Table I/O either: the incident is the intake function's work"
    (raw,) = await raw_queue_bodies("webex-intake")
    body = json.loads(base64.b64decode(raw))
    assert [r["record_id"] for r in body["records"]] == [record["id"]], "the work is durably queued"

    await sim.clear_faults()
    assert await run_intake(app_functions) == 1
    assert len(await sim.requests(path="/sendMail$", method="POST")) == 1, "then the deferred work runs"


async def test_alert_ack_does_not_wait_for_log_analytics(sim: Any, app_functions: dict[str, Any]) -> None:
    await sim.add_fault("/loganalytics/", delay=20, times=None)
    await sim.clear_requests()
    now = datetime.now(UTC)
    response = await app_functions["monitor_alert"].get_user_function()(
        http_request(alert_body("Fired", start=now - timedelta(minutes=5), end=now))
    )
    assert response.status_code == 202
    assert await sim.requests() == []


async def test_resolved_before_fired_and_repeats_end_in_the_right_state(
    sim: Any, app_functions: dict[str, Any]
) -> None:
    alert = app_functions["monitor_alert"].get_user_function()
    await sim.delete("integration", actor="mallory@contoso.example")
    now = datetime.now(UTC)
    window = {"start": now - timedelta(minutes=5), "end": now}

    resolved = await alert(http_request(alert_body("Resolved", **window)))
    assert resolved.status_code == 202 and json.loads(resolved.get_body())["queued"] == 0
    await run_intake(app_functions)
    assert await incidents() == [], "a Resolved opens and closes nothing"
    assert await sim.requests(path="/loganalytics/") == []

    for _ in range(6):  # the Fired, late, then the action group's retries of it
        assert (await alert(http_request(alert_body("Fired", **window)))).status_code == 202
    assert await run_intake(app_functions) == 6
    (inc,) = await incidents()
    assert inc.kind == "integration_deleted" and inc.state == "notified"
    assert len(await sim.requests(path="/loganalytics/", method="POST")) == 1
    assert len(await sim.requests(path="/sendMail$", method="POST")) == 1
    assert len(await sim.requests(path="/webexapis/v1/messages$", method="POST")) == 1


async def test_past_due_tick_runs_once_not_as_a_burst(
    sim: Any, app_functions: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    from azure.functions.timer import TimerRequest

    health = app_functions["health_check"].get_user_function()
    caplog.set_level(logging.INFO)
    await health(TimerRequest(past_due=True))
    first = await sim.requests(path="/graph/")
    assert first, "the past-due tick ran"
    assert "past due; running once now" in caplog.text
    for _ in range(3):  # the missed ticks of a stopped host must not replay back to back
        await health(TimerRequest(past_due=True))
    assert await sim.requests(path="/graph/") == first, "later past-due ticks of the burst did nothing"
    assert caplog.text.count("skipped (too_soon)") == 3


async def test_both_queues_round_trip_with_the_hosts_base64(sim: Any, app_functions: dict[str, Any]) -> None:
    import azure.functions as func

    from shared.app.runtime import get_services
    from shared.clients.verify_queue import VerifyMessage
    from shared.detect.intake import IntakeMessage

    svc = await get_services()
    sent = IntakeMessage("eventgrid", "evt-é", records=({"record_id": "r", "activity": "a", "source": "graph"},))
    await svc.intake().send(sent.to_json())
    verify = VerifyMessage(svc.settings.tenant_id, "integration", "inc-1", 0)
    await svc.queue().send(verify, delay_seconds=0)

    for queue, text in (("webex-intake", sent.to_json()), ("webex-verify", verify.to_json())):
        (raw,) = await raw_queue_bodies(queue)
        assert re.fullmatch(r"[A-Za-z0-9+/]+=*", raw), f"{queue}: stored as base64"
        assert base64.b64decode(raw).decode("utf-8") == text
    (intake_msg,) = await receive_messages("webex-intake")
    assert isinstance(intake_msg, func.QueueMessage)
    assert IntakeMessage.from_json(intake_msg.get_body()) == sent
    (verify_msg,) = await receive_messages("webex-verify")
    assert VerifyMessage.from_json(verify_msg.get_body()) == verify


@pytest.mark.parametrize("body", [b"{not json", b'{"hello": "world"}', b'{"a": 1, "a": 2}', b"[" * 100])
async def test_permanent_alert_errors_are_400_and_queue_nothing(
    sim: Any, app_functions: dict[str, Any], body: bytes
) -> None:
    response = await app_functions["monitor_alert"].get_user_function()(http_request(body))
    assert response.status_code == 400
    assert await raw_queue_bodies("webex-intake") == []


async def test_unreadable_event_is_acknowledged_and_bad_intake_messages_are_dropped(
    sim: Any, app_functions: dict[str, Any]
) -> None:
    import azure.functions as func

    await app_functions["eventgrid_audit"].get_user_function()(eventgrid_event("{truncated", event_id="bad"))
    assert await raw_queue_bodies("webex-intake") == [], "acknowledged, not retried, nothing queued"
    intake = app_functions["intake_process"].get_user_function()
    for body in (b"not json", b'{"v": 1, "origin": "x", "ref": "r", "records": [1]}'):
        await intake(func.QueueMessage(id="m", body=body))  # consumed: no raise, no retry
    assert await incidents() == []


@pytest.fixture
def dead_queue_storage(services_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Storage whose queue endpoint refuses connections (port 9, discard): the durable write fails."""
    conn = re.sub(
        r"QueueEndpoint=http://127\.0\.0\.1:\d+",
        "QueueEndpoint=http://127.0.0.1:9",
        services_env["AzureWebJobsStorage"],
    )
    monkeypatch.setenv("AzureWebJobsStorage", conn)


async def test_failed_durable_write_makes_the_sender_retry(
    sim: Any, dead_queue_storage: None, app_functions: dict[str, Any]
) -> None:
    from shared.app.runtime import reset_services

    await reset_services()
    (record,) = await sim.delete("integration")
    with pytest.raises(TransientError):
        await app_functions["eventgrid_audit"].get_user_function()(eventgrid_event(record))
    now = datetime.now(UTC)
    response = await app_functions["monitor_alert"].get_user_function()(
        http_request(alert_body("Fired", start=now - timedelta(minutes=5), end=now))
    )
    assert response.status_code == 503, "the action group retries a 503"
