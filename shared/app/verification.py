"""One verification run for one incident (the queue trigger's body).

The run claims its attempt number on the incident row (ETag-checked), so a duplicated message or a
second worker does nothing. It flushes notices still pending, runs the checks for the incident's app
and then either resolves the incident (a "fixed" notice with the time to recover, then the row is
archived) or schedules the next run by the queue's visibility timeout — never by sleeping. A long
``Retry-After`` from Graph or Webex only pushes the next run later. Past the deadline the incident is
escalated once; while broken, a reminder goes out every ``REMINDER_HOURS``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING

from shared.core.clock import clock
from shared.core.errors import TransientError
from shared.incidents.store import Incident, State

if TYPE_CHECKING:
    from shared.app.runtime import Services
    from shared.checks.suite import HealthReport
    from shared.clients.verify_queue import VerifyMessage
    from shared.notify.view import NoticeKind

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class VerifyOutcome:
    outcome: str  # resolved | rescheduled | escalated | stale | no_incident
    incident_id: str | None = None
    attempt: int | None = None
    verdicts: tuple[tuple[str, str], ...] = ()
    next_delay: float | None = None


def delay_after(delays: tuple[int, ...], runs_done: int) -> float:
    """Seconds until the next run after ``runs_done`` runs: ``delays[runs_done]``, and past the end
    of the list its last value again (default 1, 2, 5, 10, 15, 30 min, then every 30 min)."""
    return float(delays[min(max(runs_done, 0), len(delays) - 1)])


def _seconds(ttr: timedelta | None) -> float | None:
    return None if ttr is None else round(ttr.total_seconds(), 3)


def _summary(report: HealthReport) -> str:
    return "; ".join(f"{r.name}={r.verdict}" for r in report.results)[:1000]


async def _finish_resolution(svc: Services, inc: Incident) -> Incident:
    """Send what is still owed (an earlier notice included) and archive — not while a channel is
    claimed by a worker that died before recording its send: archived, that claim would never be
    taken over and its notice never sent (issue 19). A run after the claim lease finishes the job."""
    from shared.app.pipeline import schedule_verification
    from shared.incidents.notices import CLAIM_LEASE, deliver
    from shared.notify.view import NoticeKind

    inc = await _flush_pending(svc, inc)
    inc, report = await deliver(svc, inc, NoticeKind.RESOLVED)
    if report.pending:
        raise TransientError(f"incident {inc.incident_id}: resolved notice pending on {', '.join(report.failed)}")
    if any(d.status == "claimed" for d in inc.deliveries.values()):
        await schedule_verification(svc, inc, delay=CLAIM_LEASE.total_seconds() + 1)
        return inc
    await svc.store().archive(inc)
    return inc


def _successor_lost(c: Incident, msg: VerifyMessage) -> bool:
    """This message's run was claimed but never scheduled the next one (its worker died in between):
    dropped as stale, the incident would never be verified again (issue 19). Scheduling again is
    safe: a live claimant's own message then becomes an extra one, which the attempt check drops."""
    return (
        c.incident_id == msg.incident_id
        and c.verify_attempts == msg.attempt + 1
        and c.next_verify_at is None
        and c.state != State.RESOLVED
    )


async def _restore_unsettled(svc: Services, inc: Incident, report: HealthReport) -> Incident | None:
    """A healthy run while a restore's outcome was never recorded (its worker died after claiming
    it): its opening notice was never sent. After the restore lease :func:`follow_up` settles it and
    sends the consent notice; before, the run comes back then. ``None``: nothing unsettled."""
    if inc.restore_outcome != "claimed":
        return None
    from shared.app.pipeline import schedule_verification
    from shared.app.restore import RESTORE_LEASE, follow_up

    inc = await follow_up(svc, inc, report)
    if inc.restore_outcome == "claimed":
        await schedule_verification(svc, inc, delay=RESTORE_LEASE.total_seconds() + 1)
    return inc


async def _flush_pending(svc: Services, inc: Incident) -> Incident:
    from shared.incidents.notices import deliver, pending_notices
    from shared.notify.view import NoticeKind

    for key in pending_notices(inc):
        notice = NoticeKind(key.split("-", 1)[0])
        inc, _ = await deliver(svc, inc, notice, key)
    opening = _opening_never_claimed(inc, auto_restore=svc.settings.auto_restore)
    if opening is not None:
        inc, _ = await deliver(svc, inc, opening)
    return inc


def _opening_never_claimed(inc: Incident, *, auto_restore: bool) -> NoticeKind | None:
    """The opening notice when no channel ever claimed it and no restore decides it any more: the
    work that sends it (the record's processing) died first and may never run again — the timer's
    poll no longer reads a record that old (issue 19)."""
    from shared.app.restore import DELETION_KINDS
    from shared.notify.view import NoticeKind

    if any(key.split("/", 1)[-1] in ("opened", "restored") for key in inc.deliveries):
        return None
    restore_pending = inc.restore_outcome is None and auto_restore and inc.kind in DELETION_KINDS
    if inc.restore_outcome == "claimed" or restore_pending:
        return None  # the restore still decides which notice opens (or settles it: _restore_unsettled)
    return NoticeKind.RESTORED if inc.restore_outcome == "restored" else NoticeKind.OPENED


async def run_verification(svc: Services, msg: VerifyMessage) -> VerifyOutcome:
    """One verification run; every line it logs carries the incident's tenant, id and app."""
    from shared.core.logcontext import bind

    with bind(tenant_id=msg.tenant_id, incident_id=msg.incident_id, app=msg.app_key):
        return await _run_verification(svc, msg)


async def _run_verification(svc: Services, msg: VerifyMessage) -> VerifyOutcome:
    from shared.app.pipeline import schedule_verification
    from shared.checks.suite import run_checks
    from shared.incidents.notices import deliver
    from shared.notify.view import NoticeKind

    store = svc.store()
    s = svc.settings
    found = await store.get_open(msg.tenant_id, msg.app_key)
    if found is None:
        return VerifyOutcome("no_incident", msg.incident_id, msg.attempt)
    inc: Incident = found
    if inc.incident_id != msg.incident_id:
        return VerifyOutcome("stale", msg.incident_id, msg.attempt)
    if inc.state == State.RESOLVED:  # a crash after resolving: finish the job
        await _finish_resolution(svc, inc)
        return VerifyOutcome("resolved", inc.incident_id, msg.attempt)

    won = False

    def claim(c: Incident) -> Incident | None:
        nonlocal won
        won = c.incident_id == msg.incident_id and c.verify_attempts == msg.attempt
        if not won:
            return None
        state = State.VERIFYING if c.state in (State.OPEN, State.NOTIFIED) else c.state
        return replace(c, verify_attempts=msg.attempt + 1, state=state, next_verify_at=None)

    claimed = await store.mutate(msg.tenant_id, msg.app_key, claim)
    if claimed is not None and not won and _successor_lost(claimed, msg):
        await schedule_verification(svc, claimed)
        return VerifyOutcome("rescheduled", msg.incident_id, msg.attempt)
    if claimed is None or not won:
        return VerifyOutcome("stale", msg.incident_id, msg.attempt)
    inc = await _flush_pending(svc, claimed)

    app = s.catalogue.by_key(inc.app_key)
    apps = (app,) if app is not None else None
    report = await run_checks(svc, apps, webex=True, since=inc.opened_at)
    verdicts = tuple((r.name, r.verdict) for r in report.results)
    summary = _summary(report)

    if report.healthy and (settling := await _restore_unsettled(svc, inc, report)) is not None:
        inc = settling
    if report.healthy and inc.restore_outcome == "claimed":
        return VerifyOutcome("rescheduled", inc.incident_id, msg.attempt, verdicts)
    if report.healthy:
        now = clock.now()

        def resolve(c: Incident) -> Incident | None:
            if c.incident_id != inc.incident_id or c.state == State.RESOLVED:
                return None
            return replace(c, state=State.RESOLVED, resolved_at=now, last_verdict=summary)

        resolved = await store.mutate(inc.tenant_id, inc.app_key, resolve)
        if resolved is None:
            return VerifyOutcome("stale", inc.incident_id, msg.attempt, verdicts)
        await _finish_resolution(svc, resolved)
        log.info(
            "incident %s resolved after %s runs (time to recover %s)",
            inc.incident_id, msg.attempt + 1, resolved.time_to_recover,
            extra={"event": "incident_resolved", "ttr_seconds": _seconds(resolved.time_to_recover),
                   "attempts": msg.attempt + 1},
        )  # fmt: skip
        return VerifyOutcome("resolved", inc.incident_id, msg.attempt, verdicts)

    # Still broken (or not yet known): remind, escalate, schedule the next run.
    now = clock.now()
    deadline = inc.opened_at + timedelta(hours=s.verify_deadline_hours)
    outcome = "rescheduled"

    def note(c: Incident) -> Incident | None:
        return replace(c, last_verdict=summary) if c.incident_id == inc.incident_id else None

    inc = await store.mutate(inc.tenant_id, inc.app_key, note) or inc
    if inc.restore_attempted:  # the restore did not fix it: the consent notice after all (shared.app.restore)
        from shared.app.restore import follow_up

        inc = await follow_up(svc, inc, report)
    if now >= deadline and inc.escalated_at is None:

        def escalate(c: Incident) -> Incident | None:
            if c.escalated_at is not None:
                return None
            return replace(c, state=State.ESCALATED, escalated_at=now)

        inc = await store.mutate(inc.tenant_id, inc.app_key, escalate) or inc
        inc, _ = await deliver(svc, inc, NoticeKind.ESCALATED)
        outcome = "escalated"
        log.warning(
            "incident %s escalated: still broken after the deadline", inc.incident_id,
            extra={"event": "incident_escalated"},
        )  # fmt: skip
    elif inc.escalated_at is None:
        last = inc.last_reminder_at or inc.opened_at
        if now - last >= timedelta(hours=s.reminder_hours):

            def remind(c: Incident) -> Incident | None:
                return replace(c, last_reminder_at=now)

            inc = await store.mutate(inc.tenant_id, inc.app_key, remind) or inc
            inc, _ = await deliver(svc, inc, NoticeKind.REMINDER, f"reminder-{now.strftime('%Y%m%dT%H%M%S')}")

    delay = delay_after(s.verify_delays, inc.verify_attempts)
    hint = report.longest_retry_after
    if hint is not None:
        delay = max(delay, hint)
    await schedule_verification(svc, inc, delay=delay)
    return VerifyOutcome(outcome, inc.incident_id, msg.attempt, verdicts, delay)
