"""The verification loop ends every incident in a clear state: resolved with the measured time to
recover, or escalated once after the deadline. Runs go through the real queue trigger function;
incidents live in Azurite; notices are what the simulator recorded."""

from __future__ import annotations

from typing import Any

import azure.functions as func
import pytest

from shared.core.clock import clock
from tests.helpers import deliver_event, incidents, receive_verify_messages


def test_default_schedule_is_1_2_5_10_15_30_minutes_then_every_30() -> None:
    from shared.app.verification import delay_after
    from shared.core.settings import Settings

    delays = Settings.model_fields["verify_delays"].default
    minutes = [delay_after(delays, n) / 60 for n in range(9)]
    assert minutes == [1, 2, 5, 10, 15, 30, 30, 30, 30]
    assert Settings.model_fields["verify_deadline_hours"].default == 24


async def _open_incident(sim: Any, app_functions: dict[str, Any], *, first_run_visible: bool = True) -> Any:
    records = await sim.delete("integration", actor="mallory@contoso.example")
    await deliver_event(app_functions, records[0])
    if first_run_visible:  # take the first run's message off the queue; we drive the runs ourselves below
        assert len(await receive_verify_messages()) == 1
    (inc,) = await incidents()
    return inc


async def _run(app_functions: dict[str, Any]) -> Any:
    """One verification run for the open incident, through the queue trigger."""
    from shared.clients.verify_queue import VerifyMessage

    (inc,) = [i for i in await incidents() if i.state != "resolved"]
    msg = VerifyMessage(inc.tenant_id, inc.app_key, inc.incident_id, inc.verify_attempts)
    await app_functions["verify_incident"].get_user_function()(func.QueueMessage(id="m", body=msg.to_json().encode()))
    (after,) = [i for i in await incidents() if i.incident_id == inc.incident_id]
    return after


def _webex(state: dict[str, Any], marker: str) -> list[dict[str, Any]]:
    return [m for m in state["webex_messages"] if marker in m.get("markdown", "")]


def _mails(state: dict[str, Any], marker: str) -> list[dict[str, Any]]:
    return [m for m in state["sent_mails"] if marker in m["message"]["subject"]]


async def test_runs_follow_the_schedule(
    sim: Any, app_functions: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.app.runtime import reset_services
    from shared.core.settings import reset_settings

    monkeypatch.setenv("VERIFY_DELAYS", "60,120,300")
    reset_settings()
    await reset_services()
    await _open_incident(sim, app_functions, first_run_visible=False)  # a minute away: not waited for
    gaps = []
    for _ in range(4):
        inc = await _run(app_functions)
        gaps.append(round((inc.next_verify_at - clock.now()).total_seconds()))
    assert gaps == [120, 300, 300, 300]
    assert inc.state == "verifying" and inc.verify_attempts == 4


async def test_broken_past_the_deadline_escalates_exactly_once(sim: Any, app_functions: dict[str, Any]) -> None:
    inc = await _open_incident(sim, app_functions)
    inc = await _run(app_functions)
    assert inc.state == "verifying"
    clock.advance(25 * 3600)  # past VERIFY_DEADLINE_HOURS (24)
    await sim.advance_clock(25 * 3600)
    inc = await _run(app_functions)
    assert inc.state == "escalated" and inc.escalated_at is not None
    for _ in range(2):  # still broken: runs go on, the escalation is not repeated
        clock.advance(1800)
        inc = await _run(app_functions)
    assert inc.state == "escalated" and inc.verify_attempts == 4
    state = await sim.state()
    assert len(_webex(state, "Escalation: Webex directory sync is still broken")) == 1
    assert len(_mails(state, "[Escalated]")) == 1
    assert _webex(state, "Escalation")[0].get("parentId"), "a reply in the incident's thread"


async def test_heals_after_three_runs_resolved_with_time_to_recover(sim: Any, app_functions: dict[str, Any]) -> None:
    from shared.notify.render import duration

    await _open_incident(sim, app_functions)
    for _ in range(2):
        clock.advance(300)
        inc = await _run(app_functions)
        assert inc.state == "verifying"
    await sim.consent(actor="admin@contoso.example")
    clock.advance(300)
    inc = await _run(app_functions)
    assert inc.state == "resolved" and inc.verify_attempts == 3
    ttr = inc.time_to_recover
    assert ttr is not None and ttr.total_seconds() >= 900
    state = await sim.state()
    (resolved,) = _webex(state, "**Resolved:**")
    assert f"Time to recover: {duration(ttr)}" in resolved["markdown"]
    (mail,) = _mails(state, "[Resolved]")
    assert duration(ttr) in mail["message"]["textBody"]
    assert "webex.scim=healthy" in (inc.last_verdict or "")
    assert "graph.consent_grant.integration=healthy" in (inc.last_verdict or "")


async def test_long_retry_after_reschedules_instead_of_sleeping(sim: Any, app_functions: dict[str, Any]) -> None:
    await _open_incident(sim, app_functions)
    await sim.consent()
    await sim.add_fault("/WebexApplications/status$", status=429, retry_after=3600, times=None)
    inc = await _run(app_functions)
    assert inc.state == "verifying", "throttled is not healthy: the incident stays open"
    assert round((inc.next_verify_at - clock.now()).total_seconds()) == 3600
    assert len(await sim.requests(path="/WebexApplications/status$")) == 1


def _reminders(got: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """Delivered reminder notices per channel, recognised in each channel's own format."""
    from tests.notice_helpers import notice_text

    def is_reminder(channel: str, request: dict[str, Any]) -> bool:
        if channel == "webhook":
            return bool(request["json"].get("notice") == "reminder")
        text = notice_text(channel, request)
        return "Subject: [Reminder]" in text if channel == "email" else "Reminder: Webex directory sync" in text

    return {channel: [r for r in requests if is_reminder(channel, r)] for channel, requests in got.items()}


async def test_reminder_every_period_while_broken_once_per_channel_threaded(
    sim: Any, app_functions: dict[str, Any], monkeypatch: pytest.MonkeyPatch, services_env: dict[str, str]
) -> None:
    from shared.core.settings import get_settings
    from tests.notice_helpers import delivered, enable_all_channels

    await enable_all_channels(monkeypatch, services_env)
    period = get_settings().reminder_hours * 3600
    assert period == 4 * 3600, "REMINDER_HOURS defaults to 4 h"

    async def advance(seconds: float) -> None:
        clock.advance(seconds)
        await sim.advance_clock(seconds)

    async def count() -> dict[str, int]:
        return {c: len(r) for c, r in _reminders(await delivered(sim)).items()}

    inc = await _open_incident(sim, app_functions)
    none = {"email": 0, "webex": 0, "teams": 0, "webhook": 0}
    await _run(app_functions)
    await advance(period - 60)  # one minute before the period ends
    inc = await _run(app_functions)
    assert inc.state == "verifying" and inc.last_reminder_at is None
    assert await count() == none, "no reminder before the period"

    await advance(60)
    inc = await _run(app_functions)
    assert await count() == dict.fromkeys(none, 1), "one reminder per channel once the period is over"
    assert inc.last_reminder_at is not None and (clock.now() - inc.last_reminder_at).total_seconds() < 30

    for _ in range(3):  # more runs inside the same period remind nobody again
        await advance(1200)
        inc = await _run(app_functions)
    assert await count() == dict.fromkeys(none, 1)

    await advance(period - 3600)  # 8 h after opening: the second period is over
    inc = await _run(app_functions)
    assert await count() == dict.fromkeys(none, 2), "exactly one more per channel for the second period"
    assert inc.state == "verifying" and inc.escalated_at is None

    state = await sim.state()
    opening = state["webex_messages"][0]
    assert "parentId" not in opening and "Webex directory sync is broken" in opening["markdown"]
    replies = [m for m in state["webex_messages"] if "Reminder:" in m.get("markdown", "")]
    assert len(replies) == 2
    assert all(m.get("parentId") == opening["id"] for m in replies), "reminders are replies in the incident thread"
    webhook = _reminders(await delivered(sim))["webhook"]
    assert {r["json"]["incident_id"] for r in webhook} == {inc.incident_id}
