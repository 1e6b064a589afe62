"""Provider mode's sweep (issue 17 points 4-6): the timer fans out, a queue trigger sweeps one tenant.

**Fan-out** (:func:`fan_out`, the timer, under the timer's lease in the deployment's own partition):
read the tenants table and every tenant's last result, send the provider's digest if it is owed,
then send one ``webex-tenant-sweep`` message per enabled tenant (:class:`~shared.clients.sweep_queue.SweepMessage`,
concurrently with a bound). It sweeps nothing itself. A tenant whose previous message is still
waiting — its queued marker is newer than its last result and younger than the message's TTL — is
not sent another: a slow tenant never piles up messages, and a message lost or poisoned is replaced
after :data:`~shared.clients.sweep_queue.MESSAGE_TTL`. A tenant Graph throttled is not sent one
before its ``not_before``.

**One tenant** (:func:`sweep_tenant`, the queue trigger): re-read the tenant's row (removed or
disabled since: dropped, logged, no retry), then run the same tick as a single-tenant deployment
(:func:`shared.app.sweep.run_tick`) *as that tenant* — its Graph token, its checkpoint and lease
(partition = tenant id), its contacts — with the audit log read on a change or on the tenant's
cadence from the shared budget (:mod:`shared.app.audit_cadence`). Failures stay the tenant's:

- Graph throttling with a ``Retry-After`` longer than an invocation may wait → the tenant's
  ``not_before`` in its state row; its sweeps until then return at once (verdict ``throttled``);
- its token refused (consent revoked, the app's service principal deleted: an AADSTS answer) or its
  configuration unusable → one operational notice to *its* contacts (once per episode, a marker row
  as every operational notice) and verdict ``unreachable``; nothing raises;
- any other transient failure (a 5xx outage, storage) → verdict ``unreachable`` written, then the
  error raised: the queue retries that one message (``maxDequeueCount``, then its poison queue).

Each sweep writes the tenant's result row (:mod:`shared.clients.sweep_results`), which the next
fan-out reads for the **provider's digest**: one operational notice to the deployment's own channels
listing the tenants in trouble, sent when that set or a verdict changed, or every ``REMINDER_HOURS``
while it is not empty.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from shared.core.clock import clock, format_timestamp, parse_timestamp
from shared.core.errors import ConfigError, TransientError
from shared.core.retry import MAX_INPROCESS_WAIT

if TYPE_CHECKING:
    from shared.app.operational_notices import ConfigAnnouncements, OperationalSend
    from shared.app.sweep import SweepDeps, TickOutcome
    from shared.clients.checkpoints import Checkpoints
    from shared.clients.sweep_queue import SweepMessage, SweepQueue
    from shared.clients.sweep_results import Board, SweepResult, SweepResults
    from shared.clients.tenants import TenantListing, TenantStore
    from shared.core.settings import Settings
    from shared.core.tenant import Tenant

log = logging.getLogger(__name__)

SWEEP_STATE = "tenant-sweep"
"""State row in the tenant's partition: ``not_before`` (Graph asked it to wait) and ``trouble_since``
(the start of the episode its operational notice is told once for)."""
DIGEST_STATE = "provider-digest"
"""State row in the deployment's own partition: what the last digest listed, and when it went out."""
DIGEST_KIND = "provider_digest"
ACCESS_KIND = "tenant_unreachable"


# --- one tenant ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TenantSweepDeps:
    """What one tenant's sweep uses: the tenants table (re-read), the result rows, and the tick's
    dependencies built *as* a tenant (the composition root's ``for_tenant(t).sweep_deps()``)."""

    tenants: TenantStore
    results: SweepResults
    sweep_for: Callable[[Tenant], Awaitable[SweepDeps]]
    sender_for: Callable[[Tenant], OperationalSend] | None = None
    """The operational sender on the tenant's own contacts, for a configuration its sweep cannot use."""


@dataclass(slots=True)
class TenantSweepOutcome:
    tenant_id: str
    outcome: str  # swept | dropped | throttled | unreachable | skipped
    verdict: str | None = None
    reasons: tuple[str, ...] = ()
    audit_reads: int = 0
    audit_refused: int = 0
    notified: list[str] = field(default_factory=list)
    tick: TickOutcome | None = None


async def sweep_tenant(deps: TenantSweepDeps, message: SweepMessage) -> TenantSweepOutcome:
    """Sweep the tenant ``message`` names (see the module docstring); raises only a transient
    failure that the queue should retry."""
    from shared.core.tenant import TenantError

    tid = message.tenant_id
    try:
        tenant = await deps.tenants.get(tid)
    except TenantError as exc:  # a hand-edited row: nobody trusted to tell but the provider's digest
        reason = f"tenants row unreadable: {exc}"
        await deps.results.put(_result(tid, message, "unreachable", (reason,)))
        log.warning("tenant sweep %s: %s", tid, reason)
        return TenantSweepOutcome(tid, "unreachable", "unreachable", (reason,))
    if tenant is None or not tenant.enabled:
        await deps.results.forget(tid)
        gone = "removed" if tenant is None else "disabled"
        log.info("tenant sweep %s dropped: the tenant was %s since the tick", tid, gone)
        return TenantSweepOutcome(tid, "dropped")
    try:
        sweep = await deps.sweep_for(tenant)
    except (ConfigError, TenantError) as exc:
        return await _bad_config(deps, tenant, message, f"configuration: {exc}")
    return await _sweep(deps, sweep, tenant, message)


async def _bad_config(deps: TenantSweepDeps, tenant: Tenant, message: SweepMessage, reason: str) -> TenantSweepOutcome:
    """The tenant's row reads but its sweep cannot be built from it: its contacts are told (once per
    problem) and the digest lists it."""
    from shared.app.operational_notices import send_owed_notice
    from shared.checks.report import NoticeOwed
    from shared.core.tenant import TenantError

    tid = tenant.tenant_id
    await deps.results.put(_result(tid, message, "unreachable", (reason,), tenant))
    log.warning("tenant sweep %s: %s", tid, reason)
    notified: list[str] = []
    if deps.sender_for is not None:
        owed = NoticeOwed(
            kind="tenant_misconfigured",
            title="The Webex sync monitor cannot watch your tenant: its configuration is incomplete",
            lines=(
                f"Your managed service provider's monitor has a configuration for tenant {tid} it cannot use, "
                "so the tenant's Webex directory sync is not watched until your provider corrects it.",
            ),
            once_key=f"tenant_misconfigured:{tid}:{hashlib.sha256(reason.encode()).hexdigest()[:16]}",
            evidence=reason,
        )
        try:
            notified = await send_owed_notice(deps.sender_for(tenant), owed)
        except (ConfigError, TenantError):  # even its contacts cannot be reached: the digest only
            notified = []
    return TenantSweepOutcome(tid, "unreachable", "unreachable", (reason,), notified=notified)


async def _sweep(deps: TenantSweepDeps, sweep: SweepDeps, tenant: Tenant, message: SweepMessage) -> TenantSweepOutcome:
    from azure.core.exceptions import ClientAuthenticationError

    from shared.app.sweep import run_tick

    tid = tenant.tenant_id
    state = await sweep.checkpoints.get_state(SWEEP_STATE)
    not_before = parse_timestamp(state.values.get("not_before"))
    if not_before is not None and clock.now() < not_before:
        reasons = (f"Graph asked to wait until {format_timestamp(not_before)}",)
        await deps.results.put(_result(tid, message, "throttled", reasons, tenant, not_before=not_before))
        return TenantSweepOutcome(tid, "throttled", "throttled", reasons)
    try:
        tick = await run_tick(sweep)
    except ClientAuthenticationError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status is None or status == 429 or status >= 500:  # Entra itself failed: retry, say nothing
            await _retrying(deps, tenant, f"token endpoint answered {status}")
            raise TransientError(f"token endpoint answered {status} for tenant {tid}") from exc
        return await _unreachable(deps, sweep, tenant, message, _access_reason(str(exc)))
    except ConfigError as exc:
        return await _unreachable(deps, sweep, tenant, message, f"configuration: {exc}")
    except TransientError as exc:
        if exc.retry_after is not None and exc.retry_after > MAX_INPROCESS_WAIT:
            return await _throttled(deps, sweep, tenant, message, wait=exc.retry_after, why=str(exc))
        await _retrying(deps, tenant, f"transient: {exc}")
        raise  # the queue retries this message only
    if not tick.ran:
        return TenantSweepOutcome(tid, "skipped", reasons=(f"lease: {tick.skipped}",), tick=tick)
    troubled = bool(state.values.get("trouble_since") or state.values.get("not_before"))
    return await _swept(deps, sweep, tenant, message, tick, end_trouble=troubled)


async def _swept(
    deps: TenantSweepDeps,
    sweep: SweepDeps,
    tenant: Tenant,
    message: SweepMessage,
    tick: TickOutcome,
    *,
    end_trouble: bool,
) -> TenantSweepOutcome:
    """A tick that ran: its verdict (a long ``Retry-After`` in a check's answer is throttling too)."""
    gate = sweep.audit_gate
    reads, refused = (gate.taken, gate.refused) if gate is not None else (0, 0)
    report = tick.health.report if tick.health is not None else None
    waits = [r.retry_after for r in report.results if r.retry_after] if report is not None else []
    if waits and max(waits) > MAX_INPROCESS_WAIT:
        why = "a check was throttled by Graph"
        throttled = await _throttled(deps, sweep, tenant, message, wait=max(waits), why=why)
        throttled.audit_reads, throttled.audit_refused, throttled.tick = reads, refused, tick
        return throttled
    healthy = report is not None and report.healthy
    reasons = () if healthy or report is None else tuple(f"{r.name}: {r.verdict}" for r in report.results if not r.ok)
    verdict = "healthy" if healthy else "unhealthy"
    await deps.results.put(_result(tenant.tenant_id, message, verdict, reasons, tenant))
    if end_trouble:  # read at the start of the sweep: no second read when there is nothing to end
        await _end_trouble(sweep.checkpoints)
    return TenantSweepOutcome(tenant.tenant_id, "swept", verdict, reasons, reads, refused, tick=tick)


async def _retrying(deps: TenantSweepDeps, tenant: Tenant, reason: str) -> None:
    """A transient failure the queue retries: the digest shows the tenant unreachable, but the row
    keeps the last *finished* sweep's id, so the timer sends no second message while this one is
    retried (after its TTL — retries spent, poisoned — it sends a new one)."""
    from shared.clients.sweep_results import SweepResult

    before = await deps.results.get(tenant.tenant_id)
    finished = before.sweep_id if before is not None else ""
    await deps.results.put(
        SweepResult(tenant.tenant_id, finished, "unreachable", (reason,), tenant.display_name, clock.now())
    )


async def _throttled(
    deps: TenantSweepDeps, sweep: SweepDeps, tenant: Tenant, message: SweepMessage, *, wait: float, why: str
) -> TenantSweepOutcome:
    until = clock.now() + timedelta(seconds=wait)
    state = await sweep.checkpoints.get_state(SWEEP_STATE)
    values = {**state.values, "not_before": format_timestamp(until), "why": why[:300]}
    await sweep.checkpoints.put_state(SWEEP_STATE, values, state.etag)
    reasons = (f"throttled by Graph for {wait:.0f} s: {why}",)
    await deps.results.put(_result(tenant.tenant_id, message, "throttled", reasons, tenant, not_before=until))
    log.warning("tenant sweep %s: %s; next sweep after %s", tenant.tenant_id, reasons[0], format_timestamp(until))
    return TenantSweepOutcome(tenant.tenant_id, "throttled", "throttled", reasons)


async def _unreachable(
    deps: TenantSweepDeps, sweep: SweepDeps, tenant: Tenant, message: SweepMessage, reason: str
) -> TenantSweepOutcome:
    """Access to the tenant failed for good (until someone acts): if the row is still there, its
    contacts are told — once per episode — and the digest lists it; removed meanwhile: dropped."""
    from shared.app.operational_notices import send_owed_notice
    from shared.checks.report import NoticeOwed
    from shared.core.tenant import TenantError

    tid = tenant.tenant_id
    try:
        still = await deps.tenants.get(tid)
    except TenantError:  # its row was edited meanwhile and does not read: nobody trusted to tell
        still = None
    if still is None or not still.enabled:  # removed (or disabled) while its sweep ran: expected
        await deps.results.forget(tid)
        log.info("tenant sweep %s dropped: the tenant was removed or disabled during its sweep", tid)
        return TenantSweepOutcome(tid, "dropped")
    await deps.results.put(_result(tid, message, "unreachable", (reason,), tenant))
    since = await _trouble_since(sweep.checkpoints)
    owed = NoticeOwed(
        kind=ACCESS_KIND,
        title="The Webex sync monitor cannot reach your Microsoft Entra tenant",
        lines=(
            f"Your managed service provider's monitor could not read tenant {tid} and stopped watching "
            "its Webex directory sync until access works again.",
            "If the provider's enterprise application was removed or its admin consent revoked on purpose, tell "
            "your provider to offboard the tenant; otherwise a Global Administrator can grant the admin consent "
            "again from the link your provider sent at onboarding.",
        ),
        once_key=f"{ACCESS_KIND}:{tid}:{format_timestamp(since)}",
        evidence=reason,
        log_when_sent=True,
    )
    notified = await send_owed_notice(sweep.health.send, owed)
    return TenantSweepOutcome(tid, "unreachable", "unreachable", (reason,), notified=notified)


async def _trouble_since(cp: Checkpoints) -> datetime:
    """When the tenant's current access trouble began (stored on its first sweep that met it)."""
    state = await cp.get_state(SWEEP_STATE)
    since = parse_timestamp(state.values.get("trouble_since"))
    if since is not None:
        return since
    now = clock.now()
    await cp.put_state(SWEEP_STATE, {**state.values, "trouble_since": format_timestamp(now)}, state.etag)
    return now


async def _end_trouble(cp: Checkpoints) -> None:
    """A sweep that reached the tenant ends its trouble episode (a later one is told again)."""
    state = await cp.get_state(SWEEP_STATE)
    if state.values.get("trouble_since") or state.values.get("not_before"):
        await cp.put_state(SWEEP_STATE, {"trouble_since": "", "not_before": ""}, state.etag)


def _access_reason(text: str) -> str:
    from shared.app.onboarding import missing_from_token_error

    return f"token refused: {missing_from_token_error(text)}"


def _result(
    tenant_id: str,
    message: SweepMessage,
    verdict: str,
    reasons: tuple[str, ...],
    tenant: Tenant | None = None,
    *,
    not_before: datetime | None = None,
) -> SweepResult:
    from shared.clients.sweep_results import SweepResult

    name = tenant.display_name if tenant is not None else ""
    return SweepResult(tenant_id, message.sweep_id, verdict, reasons, name, clock.now(), not_before)


# --- the fan-out and the digest ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FanOutDeps:
    """What the provider-mode timer uses: the settings, the deployment's own checkpoints (the timer
    lease, the digest's state), the tenants table, the sweep queue, the result rows, the sender on
    the provider's own channels, and this worker's id (the lease's owner)."""

    settings: Settings
    checkpoints: Checkpoints
    tenants: TenantStore
    queue: SweepQueue
    results: SweepResults
    send: OperationalSend
    worker_id: str
    announcements: ConfigAnnouncements | None = None
    """The deployment's configuration problems are told to the provider here, not in each tenant's sweep."""


@dataclass(slots=True)
class FanOutOutcome:
    ran: bool
    skipped: str | None = None
    sweep_id: str = ""
    sent: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    throttled: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    digest: list[str] | None = None  # channels that took a digest; None: none was owed


async def fan_out(deps: FanOutDeps, *, past_due: bool = False) -> FanOutOutcome:
    """One tick in provider mode: the digest of the last sweep, then a message per tenant."""
    from shared.app.sweep import LEASE, LEASE_TTL, PAST_DUE_GAP
    from shared.clients.checkpoints import LeaseRefused

    owner = f"{deps.worker_id}-{secrets.token_hex(4)}"
    lease = await deps.checkpoints.acquire(LEASE, owner, LEASE_TTL, min_gap=PAST_DUE_GAP if past_due else None)
    if isinstance(lease, LeaseRefused):
        return FanOutOutcome(ran=False, skipped=lease.reason)
    try:
        now = clock.now()
        out = FanOutOutcome(ran=True, sweep_id=format_timestamp(now))
        listing = await deps.tenants.list()
        board = await deps.results.board()
        out.digest = await send_digest(deps, listing, board, now)
        if deps.announcements is not None:  # never raises: a notice that fails is tried next tick
            from shared.app.operational_notices import announce_config_problems

            await announce_config_problems(deps.settings, deps.send, deps.announcements)
        await _enqueue(deps, listing, board, now, out)
    finally:
        await deps.checkpoints.release(lease)
    return out


def _waiting(tenant_id: str, board: Board, now: datetime) -> bool:
    """A message for the tenant is still waiting: queued after its last result, within the TTL."""
    from shared.clients.sweep_queue import MESSAGE_TTL

    queued = board.queued.get(tenant_id)
    if queued is None or now - queued[1] >= MESSAGE_TTL:
        return False
    result = board.results.get(tenant_id)
    return result is None or result.sweep_id < queued[0]


async def _enqueue(deps: FanOutDeps, listing: TenantListing, board: Board, now: datetime, out: FanOutOutcome) -> None:
    from shared.clients.sweep_queue import SweepMessage

    todo: list[SweepMessage] = []
    for tenant in listing.tenants:
        if not tenant.enabled:
            continue
        result = board.results.get(tenant.tenant_id)
        if _waiting(tenant.tenant_id, board, now):
            out.waiting.append(tenant.tenant_id)
        elif result is not None and result.not_before is not None and now < result.not_before:
            out.throttled.append(tenant.tenant_id)
        else:
            todo.append(SweepMessage(tenant.tenant_id, out.sweep_id))
    answers = await deps.queue.send_all(todo)
    out.sent = [m.tenant_id for m, a in zip(todo, answers, strict=True) if not isinstance(a, TransientError)]
    out.failed = [m.tenant_id for m, a in zip(todo, answers, strict=True) if isinstance(a, TransientError)]
    await deps.results.mark_queued(out.sent, out.sweep_id, now, board.holding(out.sent))  # verdict + since
    if out.failed:
        log.warning("tenant sweep fan-out: %d of %d not sent; sent next tick", len(out.failed), len(todo))


def _troubled(listing: TenantListing, board: Board) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """(tenant id, display name, verdict, reasons) of every watched tenant in trouble, and of every
    tenants row that does not read, sorted by tenant id."""
    watched = {t.tenant_id: t for t in listing.tenants if t.enabled}
    rows = [
        (tid, watched[tid].display_name or r.display_name, r.verdict, r.reasons)
        for tid, r in board.results.items()
        if tid in watched and r.troubled
    ]
    rows += [(key, "", "unreachable", (f"tenants row unreadable: {why}",)) for key, why in listing.bad_rows]
    return sorted(rows)


async def send_digest(deps: FanOutDeps, listing: TenantListing, board: Board, now: datetime) -> list[str] | None:
    """The provider's digest, when owed: the troubled set or a verdict changed since the last one,
    or it is not empty and ``REMINDER_HOURS`` passed. Returns the channels that took it (``None``:
    none was owed). Remembered only when a channel took it, so a failed send is tried next tick."""
    from shared.notify.operational import OperationalNotice, TenantLine

    troubled = _troubled(listing, board)
    fingerprint = hashlib.sha256(json.dumps([(t[0], t[2]) for t in troubled]).encode()).hexdigest()[:32]
    state = await deps.checkpoints.get_state(DIGEST_STATE)
    last, sent_at = state.values.get("fingerprint"), parse_timestamp(state.values.get("sent_at"))
    changed = fingerprint != last and (troubled or last)  # the first digest waits for a first trouble
    reminder = bool(troubled) and sent_at is not None and now - sent_at >= timedelta(hours=deps.settings.reminder_hours)
    if not (changed or reminder):
        return None
    watched = sum(1 for t in listing.tenants if t.enabled)
    if troubled:
        title = f"{len(troubled)} of {watched} tenants in trouble" + (" (reminder)" if not changed else "")
        lines: tuple[str, ...] = ("The last sweep found these customer tenants unhealthy, throttled or unreachable.",)
    else:
        title = f"No tenant in trouble ({watched} watched)"
        lines = ("Every tenant of the last sweep is healthy again.",)
    tenants = tuple(TenantLine(t[0], t[1], t[2], t[3]) for t in troubled)
    notice = OperationalNotice(kind=DIGEST_KIND, title=title, lines=lines, tenants=tenants)
    try:
        sent = await deps.send(notice)
    except Exception:  # the fan-out matters more than the digest; the next tick tries again
        log.exception("could not send the provider digest")
        return []
    if sent:
        values = {"fingerprint": fingerprint, "sent_at": format_timestamp(now)}
        await deps.checkpoints.put_state(DIGEST_STATE, values, state.etag)
    return sent
