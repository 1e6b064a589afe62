"""The verification run's named steps on the in-memory table: the attempt claim, resolve, the
reschedule by the one delay formula, escalation once past the deadline, the reminder."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from shared.clients.verify_queue import VerifyMessage
from shared.core.clock import clock
from shared.incidents.lifecycle import armed
from shared.incidents.store import IncidentStore
from tests.unit.incidents.conftest import OPENED, CountingChannel, incident


class RecordingQueue:
    def __init__(self) -> None:
        self.sent: list[tuple[int, float]] = []

    async def send(self, message: VerifyMessage, *, delay_seconds: float) -> None:
        self.sent.append((message.attempt, delay_seconds))


class Checks:
    """The checks' answers, one verdict per run."""

    def __init__(self, *verdicts: str) -> None:
        self.verdicts = list(verdicts)
        self.calls: list[datetime] = []

    async def __call__(self, apps: Any, since: datetime) -> Any:
        from shared.checks.report import CheckResult, HealthReport

        self.calls.append(since)
        verdict = self.verdicts.pop(0)
        return HealthReport([CheckResult("graph.service_principal.integration", verdict, "-", 1.0, "integration")])


@pytest.fixture
def at(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Freeze the project clock at a given moment (``at(t)``)."""

    def freeze(moment: datetime) -> None:
        monkeypatch.setattr(clock, "_now", lambda: moment)

    return freeze


@pytest.fixture
def rig(store: IncidentStore, settings: Any, at: Any) -> Any:
    from shared.app.restore import RestoreDeps
    from shared.app.verification import VerificationDeps
    from shared.incidents.notices import NoticeDeps
    from shared.incidents.schedule import VerifyScheduler

    class Rig:
        queue = RecordingQueue()
        channel = CountingChannel("webhook")

        def deps(self, checks: Checks) -> VerificationDeps:
            async def channels() -> list[CountingChannel]:
                return [self.channel]

            async def no_graph() -> Any:
                raise AssertionError("the restore is not attempted here")

            async def no_identity() -> str | None:
                raise AssertionError("the restore is not attempted here")

            notices = NoticeDeps(settings, store, channels)
            scheduler = VerifyScheduler(store, self.queue, (60, 120, 300))  # type: ignore[arg-type]
            restore = RestoreDeps(settings, store, no_graph, no_identity, notices)
            return VerificationDeps(settings, store, scheduler, notices, restore, checks)

    at(OPENED + timedelta(minutes=1))
    return Rig()


def _msg(attempt: int) -> VerifyMessage:
    inc = incident()
    return VerifyMessage(inc.tenant_id, inc.app_key, inc.incident_id, attempt)


async def test_a_run_claims_its_attempt_once_and_reschedules_by_the_schedule(rig: Any, store: IncidentStore) -> None:
    from shared.app.verification import run_verification

    await store.open_or_attach(incident(state="notified"), "eventgrid")
    steps: list[str] = []
    with armed(lambda s: steps.append(str(s))):
        first = await run_verification(rig.deps(Checks("missing")), _msg(0))
        again = await run_verification(rig.deps(Checks("missing")), _msg(0))  # the same message, redelivered
    assert (first.outcome, first.attempt, first.next_delay) == ("rescheduled", 0, 120.0)
    assert again.outcome == "stale"
    assert steps == ["verify_claimed", "verdict_noted", "verify_enqueued", "verify_noted"]
    assert rig.queue.sent == [(1, 120.0)]
    inc = await store.get_open(incident().tenant_id, "integration")
    assert inc is not None
    assert (inc.state, inc.verify_attempts) == ("verifying", 1)
    assert inc.last_verdict == "graph.service_principal.integration=missing"


async def test_a_healthy_run_resolves_notifies_and_archives(rig: Any, store: IncidentStore) -> None:
    from shared.app.verification import run_verification

    await store.open_or_attach(incident(state="verifying", verify_attempts=2), "eventgrid")
    out = await run_verification(rig.deps(Checks("healthy")), _msg(2))
    assert out.outcome == "resolved"
    assert await store.get_open(incident().tenant_id, "integration") is None
    closed = await store.get_closed(incident().tenant_id, incident().incident_id)
    assert closed is not None and closed.state == "resolved" and closed.resolved_at == OPENED + timedelta(minutes=1)
    assert sorted(closed.deliveries) == ["webhook/opened", "webhook/resolved"]
    assert rig.channel.sent == [incident().incident_id]
    assert rig.queue.sent == []


async def test_past_the_deadline_a_run_escalates_once_then_runs_go_on(rig: Any, store: IncidentStore, at: Any) -> None:
    from shared.app.verification import run_verification

    await store.open_or_attach(incident(state="verifying", verify_attempts=1), "eventgrid")
    at(OPENED + timedelta(hours=25))
    first = await run_verification(rig.deps(Checks("missing")), _msg(1))
    second = await run_verification(rig.deps(Checks("missing")), _msg(2))
    assert [first.outcome, second.outcome] == ["escalated", "rescheduled"]
    inc = await store.get_open(incident().tenant_id, "integration")
    assert inc is not None
    assert (inc.state, inc.verify_attempts) == ("escalated", 3)
    assert inc.escalated_at == OPENED + timedelta(hours=25)
    assert sorted(inc.deliveries) == ["webhook/escalated", "webhook/opened"]  # no reminder once escalated
    assert rig.queue.sent == [(2, 300.0), (3, 300.0)]


async def test_a_reminder_goes_out_when_due_and_is_noted(rig: Any, store: IncidentStore, at: Any) -> None:
    from shared.app.verification import run_verification

    await store.open_or_attach(incident(state="verifying", verify_attempts=1), "eventgrid")
    at(OPENED + timedelta(hours=4, seconds=1))  # REMINDER_HOURS defaults to 4
    out = await run_verification(rig.deps(Checks("missing")), _msg(1))
    assert out.outcome == "rescheduled"
    inc = await store.get_open(incident().tenant_id, "integration")
    assert inc is not None
    assert inc.last_reminder_at == OPENED + timedelta(hours=4, seconds=1)
    assert sorted(inc.deliveries) == ["webhook/opened", "webhook/reminder-20261129T092456"]


async def test_a_run_for_another_incident_or_none_does_nothing(rig: Any, store: IncidentStore) -> None:
    from shared.app.verification import run_verification

    assert (await run_verification(rig.deps(Checks()), _msg(0))).outcome == "no_incident"
    await store.open_or_attach(incident(incident_id="inc-newer"), "timer")
    assert (await run_verification(rig.deps(Checks()), _msg(0))).outcome == "stale"
    assert rig.queue.sent == []
