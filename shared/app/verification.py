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
from collections.abc import Awaitable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from shared.core.clock import clock
from shared.core.errors import TransientError
from shared.incidents.claims import Claim, claim, write
from shared.incidents.lifecycle import FINAL, Event, State, Step, allows, delay_after, moved
from shared.incidents.store import Incident

if TYPE_CHECKING:
    from shared.app.restore import RestoreDeps
    from shared.checks.report import HealthReport
    from shared.clients.verify_queue import VerifyMessage
    from shared.core.catalogue import WebexApp
    from shared.core.settings import Settings
    from shared.incidents.notices import NoticeDeps
    from shared.incidents.schedule import VerifyScheduler
    from shared.incidents.store import IncidentStore
    from shared.notify.view import NoticeKind

__all__ = ["VerificationDeps", "VerifyOutcome", "delay_after", "escalate", "run_verification"]

log = logging.getLogger(__name__)


class Checker(Protocol):
    """Runs the checks for ``apps`` (``None``: all), Webex's status included; ``since`` is when the
    incident opened (the SCIM canary says whether a sync ran after it)."""

    def __call__(self, apps: tuple[WebexApp, ...] | None, since: datetime) -> Awaitable[HealthReport]: ...


@dataclass(frozen=True, slots=True)
class VerificationDeps:
    """What a verification run uses: the settings (deadline, reminders, schedule), the incident
    store, the scheduler of the next run, the notices, the restore's follow-up and the checks."""

    settings: Settings
    store: IncidentStore
    scheduler: VerifyScheduler
    notices: NoticeDeps
    restore: RestoreDeps
    checks: Checker


@dataclass(frozen=True, slots=True)
class VerifyOutcome:
    outcome: str  # resolved | rescheduled | escalated | stale | no_incident
    incident_id: str | None = None
    attempt: int | None = None
    verdicts: tuple[tuple[str, str], ...] = ()
    next_delay: float | None = None


def _seconds(ttr: timedelta | None) -> float | None:
    return None if ttr is None else round(ttr.total_seconds(), 3)


def _summary(report: HealthReport) -> str:
    return "; ".join(f"{r.name}={r.verdict}" for r in report.results)[:1000]


async def _finish_resolution(deps: VerificationDeps, inc: Incident) -> Incident:
    """Send what is still owed (an earlier notice included) and archive — not while a channel is
    claimed by a worker that died before recording its send: archived, that claim would never be
    taken over and its notice never sent (issue 19). A run after the claim lease finishes the job."""
    from shared.incidents.notices import CLAIM_LEASE, deliver
    from shared.notify.view import NoticeKind

    inc = await _flush_pending(deps, inc)
    inc, report = await deliver(deps.notices, inc, NoticeKind.RESOLVED)
    if report.pending:
        raise TransientError(f"incident {inc.incident_id}: resolved notice pending on {', '.join(report.failed)}")
    if any(d.status == "claimed" for d in inc.deliveries.values()):
        await deps.scheduler.schedule(inc, delay=CLAIM_LEASE.total_seconds() + 1)
        return inc
    await deps.store.archive(inc)
    return inc


async def _flush_pending(deps: VerificationDeps, inc: Incident) -> Incident:
    """Notices still owed from earlier runs, and the opening notice if nothing ever claimed it."""
    from shared.incidents.notices import deliver, pending_notices
    from shared.notify.view import NoticeKind

    for key in pending_notices(inc):
        notice = NoticeKind(key.split("-", 1)[0])
        inc, _ = await deliver(deps.notices, inc, notice, key)
    opening = _opening_never_claimed(inc, auto_restore=deps.settings.auto_restore)
    if opening is not None:
        inc, _ = await deliver(deps.notices, inc, opening)
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


async def _restore_unsettled(deps: VerificationDeps, inc: Incident, report: HealthReport) -> Incident:
    """A healthy run while a restore's outcome was never recorded (its worker died after claiming
    it): its opening notice was never sent. After the restore lease :func:`follow_up` settles it and
    sends the consent notice; before, the run comes back then."""
    from shared.app.restore import RESTORE_LEASE, follow_up

    inc = await follow_up(deps.restore, inc, report)
    if inc.restore_outcome == "claimed":
        await deps.scheduler.schedule(inc, delay=RESTORE_LEASE.total_seconds() + 1)
    return inc


async def run_verification(deps: VerificationDeps, msg: VerifyMessage) -> VerifyOutcome:
    """One verification run; every line it logs carries the incident's tenant, id and app."""
    from shared.core.logcontext import bind

    with bind(tenant_id=msg.tenant_id, incident_id=msg.incident_id, app=msg.app_key):
        return await _run_verification(deps, msg)


async def _run_verification(deps: VerificationDeps, msg: VerifyMessage) -> VerifyOutcome:
    """Read, claim the attempt, flush pending notices, check; then resolve or carry on."""
    inc = await deps.store.get_open(msg.tenant_id, msg.app_key)
    if inc is None:
        return VerifyOutcome("no_incident", msg.incident_id, msg.attempt)
    if inc.incident_id != msg.incident_id:
        return VerifyOutcome("stale", msg.incident_id, msg.attempt)
    if inc.state in FINAL:  # a crash after resolving: finish the job
        await _finish_resolution(deps, inc)
        return VerifyOutcome("resolved", inc.incident_id, msg.attempt)
    got = await _claim_attempt(deps.store, inc, msg)
    if not got.won and got.incident is not None and _successor_lost(got.incident, msg):
        await deps.scheduler.schedule(got.incident)
        return VerifyOutcome("rescheduled", msg.incident_id, msg.attempt)
    if got.incident is None or not got.won:
        return VerifyOutcome("stale", msg.incident_id, msg.attempt)
    inc = await _flush_pending(deps, got.incident)
    app = deps.settings.catalogue.by_key(inc.app_key)
    report = await deps.checks((app,) if app is not None else None, inc.opened_at)
    if report.healthy and inc.restore_outcome == "claimed":
        inc = await _restore_unsettled(deps, inc, report)
        if inc.restore_outcome == "claimed":
            return VerifyOutcome("rescheduled", inc.incident_id, msg.attempt, _verdicts(report))
    if report.healthy:
        return await _resolve(deps, inc, msg, report)
    return await _still_broken(deps, inc, msg, report)


def _verdicts(report: HealthReport) -> tuple[tuple[str, str], ...]:
    return tuple((r.name, r.verdict) for r in report.results)


async def _claim_attempt(store: IncidentStore, inc: Incident, msg: VerifyMessage) -> Claim[bool]:
    """This run's attempt number on the row: a duplicated message or a second worker gets nothing."""

    def take(c: Incident) -> tuple[Incident, bool] | None:
        if c.incident_id != msg.incident_id or c.verify_attempts != msg.attempt or not allows(c.state, Event.VERIFY):
            return None
        return moved(c, Event.VERIFY, verify_attempts=msg.attempt + 1, next_verify_at=None), True

    return await claim(store, inc, take, step=Step.VERIFY_CLAIMED)


async def _resolve(deps: VerificationDeps, inc: Incident, msg: VerifyMessage, report: HealthReport) -> VerifyOutcome:
    """Healthy: mark the incident resolved, send the "fixed" notice, archive the row."""
    verdicts = _verdicts(report)
    now, summary = clock.now(), _summary(report)

    def take(c: Incident) -> tuple[Incident, bool] | None:
        if c.incident_id != inc.incident_id or c.state == State.RESOLVED:
            return None
        return moved(c, Event.RESOLVE, resolved_at=now, last_verdict=summary), True

    got = await claim(deps.store, inc, take, step=Step.RESOLVED)
    resolved = got.incident
    if resolved is None or resolved.incident_id != inc.incident_id:
        return VerifyOutcome("stale", inc.incident_id, msg.attempt, verdicts)
    await _finish_resolution(deps, resolved)
    log.info(
        "incident %s resolved after %s runs (time to recover %s)",
        inc.incident_id, msg.attempt + 1, resolved.time_to_recover,
        extra={"event": "incident_resolved", "ttr_seconds": _seconds(resolved.time_to_recover),
               "attempts": msg.attempt + 1},
    )  # fmt: skip
    return VerifyOutcome("resolved", inc.incident_id, msg.attempt, verdicts)


async def _still_broken(
    deps: VerificationDeps, inc: Incident, msg: VerifyMessage, report: HealthReport
) -> VerifyOutcome:
    """Still broken (or not yet known): note the verdict, follow up a restore, escalate once past
    the deadline or remind, and schedule the next run."""
    s = deps.settings
    now, summary = clock.now(), _summary(report)
    inc = await write(deps.store, inc, lambda c: replace(c, last_verdict=summary), step=Step.VERDICT_NOTED)
    if inc.restore_attempted:  # the restore did not fix it: the consent notice after all (shared.app.restore)
        from shared.app.restore import follow_up

        inc = await follow_up(deps.restore, inc, report)
    outcome = "rescheduled"
    if now >= inc.opened_at + timedelta(hours=s.verify_deadline_hours) and inc.escalated_at is None:
        inc, won = await escalate(deps.store, deps.notices, inc, now)
        outcome = "escalated" if won else outcome
    elif inc.reminders_on:  # not escalated, not acknowledged (shared.app.actions)
        inc = await _remind_if_due(deps, inc, now)
    delay = deps.scheduler.delay_for(inc)
    if report.longest_retry_after is not None:
        delay = max(delay, report.longest_retry_after)
    await deps.scheduler.schedule(inc, delay=delay)
    verdicts = _verdicts(report)
    return VerifyOutcome(outcome, inc.incident_id, msg.attempt, verdicts, delay)


async def escalate(store: IncidentStore, notices: NoticeDeps, inc: Incident, now: datetime) -> tuple[Incident, bool]:
    """Escalate once: ``escalated_at`` is re-checked under the ETag, so of two runs racing past the
    deadline exactly one escalates and owes the escalation notice. Returns the row and whether this
    run escalated."""
    from shared.incidents.notices import deliver
    from shared.notify.view import NoticeKind

    def take(c: Incident) -> tuple[Incident, bool] | None:
        if c.incident_id != inc.incident_id or c.escalated_at is not None or c.state == State.RESOLVED:
            return None
        return moved(c, Event.ESCALATE, escalated_at=now), True

    got = await claim(store, inc, take, step=Step.ESCALATED)
    if got.incident is None or not got.won:
        return got.incident or inc, False
    escalated, _ = await deliver(notices, got.incident, NoticeKind.ESCALATED)
    log.warning(
        "incident %s escalated: still broken after the deadline", escalated.incident_id,
        extra={"event": "incident_escalated"},
    )  # fmt: skip
    return escalated, True


async def _remind_if_due(deps: VerificationDeps, inc: Incident, now: datetime) -> Incident:
    """A reminder every ``REMINDER_HOURS`` while broken (each its own delivery key)."""
    from shared.incidents.notices import deliver
    from shared.notify.view import NoticeKind

    last = inc.last_reminder_at or inc.opened_at
    if now - last < timedelta(hours=deps.settings.reminder_hours):
        return inc
    inc = await write(deps.store, inc, lambda c: replace(c, last_reminder_at=now), step=Step.REMINDER_NOTED)
    inc, _ = await deliver(deps.notices, inc, NoticeKind.REMINDER, f"reminder-{now.strftime('%Y%m%dT%H%M%S')}")
    return inc
