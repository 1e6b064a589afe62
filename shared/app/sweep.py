"""The timer's tick: every detection the platform cannot push, under one lease.

The push paths can be missing (no Event Grid producer, no diagnostic setting, no alert) or late
(audit rows reach Log Analytics minutes after the change). Each tick therefore, in this order:

1. **polls ``auditLogs/directoryAudits``** from a stored checkpoint minus an overlap
   (``AUDIT_POLL_OVERLAP_MINUTES``, 20 min: records reach Graph up to 15 min late), narrowed
   server-side to the activities the rules act on (:func:`shared.detect.audit_poll.directory_audit_filter`),
   oldest first. Each page goes through the same pipeline as pushed records (dedupe by record id),
   so the incident carries who did it even without Log Analytics. The cursor (newest record seen,
   the next link, when the round began) is saved only after a page's records were processed: a
   failure re-reads that page next tick. Requests are paced to Graph's audit limit (5 per 10 s,
   :data:`AUDIT_PACER`); a round longer than a tick's wait budget, :data:`MAX_PAGES` or a 429
   continues next tick from the stored next link, and empty pages never end a round early. The
   checkpoint moves to the round's start only when its last page was read.
2. **follows the service-principal delta link** kept in Table storage. ``@removed`` with reason
   ``changed`` is a soft delete (recycle bin), ``deleted`` a hard one. The link is stored after its
   removals were processed. An expired link (7 days; :func:`delta_expired`) is dropped and step 4
   starts a new round in the same tick.
3. **runs the state checks** (:mod:`shared.app.health_check`): presence and ``accountEnabled`` by appId, the
   recycle bin, Webex's sync status.
4. **re-tracks the delta** when the set of present Webex service-principal ids changed (consent
   re-creates an SP under a new id; delta filters only by ``id eq …``).

In provider mode (a customer tenant's sweep, :mod:`shared.app.tenant_sweep`) step 1 runs last, and
only on a change the other steps found or on the tenant's cadence, each page from the budget every
instance shares instead of :data:`AUDIT_PACER` (:mod:`shared.app.audit_cadence`).

A lease row makes a run that overlaps the next skip (the platform keeps one timer across instances,
but a slow run and the next tick, or a restart, can still overlap); a past-due tick that follows a
run by less than :data:`PAST_DUE_GAP` is skipped — the missed ticks are not replayed as a burst.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.core.clock import clock, format_timestamp, parse_timestamp
from shared.core.errors import TransientError, UpstreamError
from shared.detect.audit_poll import directory_audit_filter, read_audit_page

if TYPE_CHECKING:
    from shared.app.audit_cadence import AuditGate
    from shared.app.health_check import HealthCheckDeps, HealthOutcome
    from shared.app.pipeline import PipelineDeps, RecordOutcome
    from shared.checks.report import HealthReport
    from shared.clients.checkpoints import Checkpoints, StateRow
    from shared.clients.graph import Graph
    from shared.core.settings import Settings

log = logging.getLogger(__name__)

LEASE = "health"
LEASE_TTL = timedelta(minutes=10)
"""As long as ``functionTimeout``: the host has stopped a run by then, so the lease may pass on."""
PAST_DUE_GAP = timedelta(seconds=30)
AUDIT_STATE = "audit-poll"
DELTA_STATE = "sp-delta"
MAX_PAGES = 50
"""Pages read per tick (5,000 audit records); the rest waits for the next tick, from the checkpoint."""


@dataclass(frozen=True, slots=True)
class SweepDeps:
    """What a tick uses: the settings, the cursors and lease (checkpoints), Graph (audit poll and
    delta), the pipeline the records and removals go through, the health check, and this worker's
    id (the lease's owner)."""

    settings: Settings
    checkpoints: Checkpoints
    graph: Graph
    pipeline: PipelineDeps
    health: HealthCheckDeps
    worker_id: str
    audit_gate: AuditGate | None = None
    """Provider mode: the audit log is read after the other steps, only on a change or when the
    tenant's cadence is due, each page from the shared rate budget (:mod:`shared.app.audit_cadence`).
    ``None`` (single tenant): every tick polls first, paced in-process (:data:`AUDIT_PACER`)."""


@dataclass(slots=True)
class TickOutcome:
    ran: bool
    skipped: str | None = None
    audit_records: int = 0
    removed: list[str] = field(default_factory=list)
    outcomes: list[RecordOutcome] = field(default_factory=list)
    health: HealthOutcome | None = None
    problems: list[str] = field(default_factory=list)
    audit_read: bool = False  # provider mode: whether this tick read the audit log (change or cadence)


async def run_tick(deps: SweepDeps, *, past_due: bool = False) -> TickOutcome:
    """One tick (see the module docstring). Raises the first transient error at the end, after
    every step had its chance, so one slow API does not hide the others."""
    from shared.app.health_check import run_health_check
    from shared.clients.checkpoints import LeaseRefused

    cp = deps.checkpoints
    owner = f"{deps.worker_id}-{secrets.token_hex(4)}"
    lease = await cp.acquire(LEASE, owner, LEASE_TTL, min_gap=PAST_DUE_GAP if past_due else None)
    if isinstance(lease, LeaseRefused):
        return TickOutcome(ran=False, skipped=lease.reason)
    out = TickOutcome(ran=True)
    first: TransientError | None = None
    try:
        steps = (_poll_audit, _follow_delta) if deps.audit_gate is None else (_follow_delta,)
        for step in steps:
            first = await _step(step, deps, out, first)
        out.health = await run_health_check(deps.health)
        try:
            await _track_delta(deps, out.health.report)
        except (TransientError, UpstreamError) as exc:
            out.problems.append(f"track_delta: {exc}")
        if deps.audit_gate is not None and await _audit_due(deps, deps.audit_gate, out):
            first = await _step(_poll_audit, deps, out, first)
    finally:
        await cp.release(lease)
    for problem in out.problems:
        log.warning("health tick: %s", problem)
    if first is not None:
        raise first
    return out


async def _step(step: Any, deps: SweepDeps, out: TickOutcome, first: TransientError | None) -> TransientError | None:
    """Run one step; its failure is a problem of this tick, the first transient one raised at the end."""
    try:
        await step(deps, out)
    except TransientError as exc:
        out.problems.append(f"{step.__name__.strip('_')}: {exc}")
        return first or exc
    except UpstreamError as exc:  # e.g. 403: a permission is missing; the checks still run
        out.problems.append(f"{step.__name__.strip('_')}: {exc}")
    return first


async def _audit_due(deps: SweepDeps, gate: AuditGate, out: TickOutcome) -> bool:
    """Provider mode: read the audit log in this tick? On a change this tick found (a delta
    removal, a finding, an open incident without its actor), an open round, or the cadence."""
    changed = bool(out.removed or out.outcomes or (out.health is not None and out.health.outcomes))
    if not changed:  # no finding: every app was healthy, and the health check read their open incidents
        known = out.health.open_incidents if out.health is not None else None
        found = known if known is not None else await deps.pipeline.store.open_incidents(deps.settings.tenant_id)
        apps = {app.key for app in deps.settings.catalogue.apps}
        # an open incident that does not know who did it yet: the audit log says
        changed = any(inc.initiator_kind in (None, "unknown") for key, inc in found.items() if key in apps)
    state = await deps.checkpoints.get_state(AUDIT_STATE)
    out.audit_read = await gate.due(deps.checkpoints, state.values, changed=changed)
    return out.audit_read


class RatePacer:
    """Client side of a sliding-window limit: how long to wait before the next request so that at
    most ``limit`` fall in any ``window`` seconds (project clock, so tests move time instead)."""

    def __init__(self, limit: int, window: float, margin: float = 1.0) -> None:
        self.limit, self.window, self.margin = limit, window, margin
        self._times: deque[float] = deque()

    def wait(self) -> float:
        now = clock.monotonic()
        if self._times and self._times[-1] > now:  # the clock was set back (tests): start afresh
            self._times.clear()
        while self._times and self._times[0] <= now - self.window:
            self._times.popleft()
        if len(self._times) < self.limit:
            return 0.0
        return self._times[0] + self.window + self.margin - now  # margin: the server counts on arrival

    def note(self) -> None:
        self._times.append(clock.monotonic())


AUDIT_PACER = RatePacer(5, 10.0)
"""``auditLogRoot`` allows 5 requests per 10 s per app per tenant (learn.microsoft.com/graph/
throttling-limits, "Identity and access reports service limits"); one process polls one tenant."""
AUDIT_PACE_BUDGET = 45.0
"""Seconds a tick (every minute) may wait for the audit rate limit: about 21 pages, 2,100 records; the rest
continues next tick from the stored ``@odata.nextLink``."""


async def _paced_audits(
    out: TickOutcome, graph: Any, waited: float, gate: AuditGate | None = None, **kw: Any
) -> tuple[Any, float] | None:
    """One audit page after waiting for the rate limit (provider mode: after a token of the shared
    budget); ``None`` when the tick's budget is spent, the shared budget refused, or Graph throttled
    anyway (another reader of the same app registration): next tick continues."""
    if gate is not None:
        if not await gate.take():
            out.problems.append("poll_audit: the shared audit budget is spent; continues from its cursor next sweep")
            return None
    else:
        wait = AUDIT_PACER.wait()
        if waited + wait > AUDIT_PACE_BUDGET:
            return None
        if wait > 0:
            await clock.sleep(wait)
            waited += wait
        AUDIT_PACER.note()
    try:
        return await graph.directory_audits(read_audit_page, **kw), waited
    except TransientError as exc:
        if exc.retry_after is None:
            raise
        out.problems.append(f"poll_audit: throttled by Graph ({exc}); continues from its cursor next tick")
        return None


async def _poll_audit(deps: SweepDeps, out: TickOutcome) -> None:
    """Read the audit log from the checkpoint (or from the stored next link of a round that a page
    budget, the rate limit or a 429 interrupted), page by page, saving the cursor after each page."""
    cp = deps.checkpoints
    graph = deps.graph
    state = await cp.get_state(AUDIT_STATE)
    if deps.audit_gate is not None:
        deps.audit_gate.resume(state.values)
    started = clock.now()
    since = parse_timestamp(state.values.get("since"))
    cursor = state.values.get("next") or None
    round_start = parse_timestamp(state.values.get("round")) or started
    overlap = timedelta(minutes=deps.settings.audit_poll_overlap_minutes)
    got = None
    if isinstance(cursor, str):
        try:
            got = await _paced_audits(out, graph, 0.0, deps.audit_gate, link=cursor)
        except UpstreamError as exc:  # a next link that no longer works: start over from the checkpoint
            log.warning("audit poll: stored next link refused (%s); re-reading from the checkpoint", exc)
            cursor = None
        if got is None and cursor is not None:
            return  # the rate limit leaves no room in this tick
    if got is None:
        round_start = started
        query = directory_audit_filter((since or started) - overlap)
        got = await _paced_audits(out, graph, 0.0, deps.audit_gate, query_filter=query)
    if got is None:
        return
    if deps.audit_gate is not None:
        deps.audit_gate.note_read()
    await _audit_pages(deps, out, graph, got, state=state, since=since, round_start=round_start)


async def _audit_pages(
    deps: SweepDeps,
    out: TickOutcome,
    graph: Any,
    got: tuple[Any, float],
    *,
    state: StateRow,
    since: datetime | None,
    round_start: datetime,
) -> None:
    from shared.app.pipeline import process_extraction

    cp = deps.checkpoints
    page, waited = got
    newest = since
    for n in range(MAX_PAGES):
        extraction = page.extraction
        out.outcomes.extend(await process_extraction(deps.pipeline, extraction))  # raises: cursor stays
        out.audit_records += len(extraction.records)
        times = [r.event_time for r in extraction.records if r.event_time is not None]
        if times:
            newest = max([*times, *([newest] if newest else [])])
        last = page.next_link is None
        if last and (newest is None or newest < round_start):
            newest = round_start  # the round read everything up to its start; the overlap covers late records
        values = {
            "since": format_timestamp(newest) if newest else "",
            "next": page.next_link or "",
            "round": format_timestamp(round_start),
            **(deps.audit_gate.fields() if deps.audit_gate is not None else {}),
        }
        if values != state.values:
            saved = await cp.put_state(AUDIT_STATE, values, state.etag)
            if saved is None:
                log.warning("audit poll checkpoint changed by another writer; resuming next tick")
                return
            state = saved
        if last or n + 1 == MAX_PAGES:
            return
        nxt = await _paced_audits(out, graph, waited, deps.audit_gate, link=page.next_link)
        if nxt is None:
            log.info("audit poll: rate-limit budget spent after %d pages; continues next tick", n + 1)
            return
        page, waited = nxt


def delta_expired(exc: UpstreamError) -> bool:
    """Graph's answers to an expired delta link: ``410 Gone`` (its ``Location`` is the initial query,
    which a new round sends anyway) or a 4xx whose code is ``syncStateNotFound``
    (learn.microsoft.com/graph/delta-query-overview, "Synchronization reset" and "Token duration")."""
    status = exc.status or 0
    return status == 410 or (400 <= status < 500 and "syncstatenotfound" in str(exc).lower())


def _delta_ids(state_values: dict[str, Any]) -> dict[str, str]:
    try:
        ids = json.loads(state_values.get("ids") or "{}")
    except ValueError:
        return {}
    return {str(k).lower(): str(v) for k, v in ids.items()} if isinstance(ids, dict) else {}


async def _follow_delta(deps: SweepDeps, out: TickOutcome) -> None:
    cp = deps.checkpoints
    state = await cp.get_state(DELTA_STATE)
    link = state.values.get("link")
    if not isinstance(link, str) or not link:
        return
    ids = _delta_ids(state.values)
    graph = deps.graph
    try:
        page = await graph.service_principal_delta(link=link)
    except UpstreamError as exc:
        if not delta_expired(exc):
            raise
        # A dead link (7 days old, or the tenant moved) can never work again: forget it, and
        # _track_delta starts a new round from the present ids in this same tick. The new round
        # lists objects, never removals, so nothing is reported removed; what changed meanwhile
        # the state checks of this tick see (presence by appId, recycle bin).
        log.warning("service-principal delta link expired (%s): starting a new round", exc)
        out.problems.append(f"follow_delta: link expired ({exc}); a new round starts")
        await cp.put_state(DELTA_STATE, {"link": "", "ids": "{}"}, state.etag)
        return
    removed: list[tuple[str, str, str]] = []
    for _ in range(MAX_PAGES):
        for item in page.items:
            gone = item.get("@removed") if isinstance(item, dict) else None
            sp_id = str(item.get("id") or "").lower() if isinstance(item, dict) else ""
            if isinstance(gone, dict) and sp_id in ids:
                removed.append((ids[sp_id], sp_id, str(gone.get("reason") or "").lower()))
        if page.next_link is None:
            break
        page = await graph.service_principal_delta(link=page.next_link)
    for app_key, sp_id, reason in removed:
        out.removed.append(f"{app_key}:{sp_id}:{reason}")
        out.outcomes.append(await _process_removal(deps, app_key, sp_id, reason))
    if page.delta_link:
        await cp.put_state(DELTA_STATE, {"link": page.delta_link, "ids": json.dumps(ids)}, state.etag)


async def _process_removal(deps: SweepDeps, app_key: str, sp_id: str, reason: str) -> RecordOutcome:
    """A delta ``@removed`` → the incident a deletion opens (``changed``: soft, else hard; the rules
    decide the kind, :mod:`shared.detect.findings`)."""
    from shared.app.pipeline import health_record, process_record
    from shared.detect.findings import Finding, Seen, classify_finding

    soft = reason == "changed"
    detail = f"service principal removed ({'soft' if soft else 'hard'} delete, delta reason {reason or 'none'})"
    finding = Finding(app_key, Seen.IN_RECYCLE_BIN if soft else Seen.GONE, sp_id, detail)
    record = health_record(app_key, detail, sp_id)
    c = classify_finding(finding, deps.settings.catalogue)
    return await process_record(deps.pipeline, record, c)


async def _track_delta(deps: SweepDeps, report: HealthReport) -> None:
    """Start a new delta round when the present Webex SP ids changed (or none is tracked yet)."""
    present = {
        r.object_id.lower(): r.app_key
        for r in report.results
        if r.name.startswith("graph.service_principal.") and r.verdict in ("healthy", "disabled")
        if r.object_id and r.app_key
    }
    cp = deps.checkpoints
    state = await cp.get_state(DELTA_STATE)
    if state.values.get("link") and _delta_ids(state.values) == present:
        return
    if not present:
        if state.values.get("link"):
            await cp.put_state(DELTA_STATE, {"link": "", "ids": "{}"}, state.etag)
        return
    graph = deps.graph
    page = await graph.service_principal_delta(ids=sorted(present))
    for _ in range(MAX_PAGES):  # the first round lists the current objects: only its end matters
        if page.next_link is None:
            break
        page = await graph.service_principal_delta(link=page.next_link)
    if page.delta_link:
        await cp.put_state(DELTA_STATE, {"link": page.delta_link, "ids": json.dumps(present)}, state.etag)
