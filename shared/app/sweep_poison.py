"""What happens to a tenant's sweep message that failed five times (provider mode's poison queue).

A tenant's sweep raises only on a transient failure (a 5xx outage of its token endpoint or of Graph,
storage): the queue retries that one message, and after ``maxDequeueCount`` attempts the queue
extension moves it to ``webex-tenant-sweep-poison`` and forgets it. The watcher turns it into what the
provider reads: the tenant's result row says ``unreachable`` because its sweep failed repeatedly (the
last error the sweep recorded, when there is one), so the next fan-out's digest lists it.

Writing the result with the poisoned message's sweep id also releases the fan-out: a tenant whose
queued marker is newer than its result is "still waiting" and is not sent another message; with the
result now as new as the marker, the next tick sends a fresh one at once instead of after the
message's TTL (:func:`shared.app.tenant_sweep.fan_out`).

Dropped with a log line, never raised (a message that failed because of its content must not loop
through a poison queue of its own): an unreadable body; a tenant removed or disabled meanwhile (its
rows are forgotten as its sweep would); a message older than the tenant's last finished sweep (a
later sweep already reached the tenant: its result stands). The result is written ETag-checked — the
watcher runs outside the tenant's lease, and a sweep that finishes between its read and its write
must not be overwritten. Only a transient storage failure (or a row that kept changing) raises, so
the host retries this message too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.core.errors import PayloadError, TransientError
from shared.core.logcontext import bind

if TYPE_CHECKING:
    from shared.clients.sweep_queue import SweepMessage
    from shared.clients.sweep_results import SweepResult, SweepResults
    from shared.clients.tenants import TenantStore
    from shared.core.tenant import Tenant

log = logging.getLogger(__name__)

WRITE_ATTEMPTS = 3
"""Reads and ETag-checked writes of the tenant's result before the watcher gives up (and raises)."""
POISONED_EVENT = "tenant_sweep_poisoned"
"""Structured event of every poisoned sweep message the watcher recorded."""


@dataclass(frozen=True, slots=True)
class SweepPoisonDeps:
    """What the watcher uses: the tenants table (re-read) and the result rows."""

    tenants: TenantStore
    results: SweepResults


@dataclass(frozen=True, slots=True)
class SweepPoisonOutcome:
    outcome: str  # recorded | dropped | superseded | unreadable
    tenant_id: str | None = None
    reasons: tuple[str, ...] = ()


def _reasons(sweep_id: str, previous: SweepResult | None) -> tuple[str, ...]:
    """Why the tenant is unreachable: its sweep failed ``maxDequeueCount`` times, and the failure the
    retried sweep recorded — an ``unreachable`` row older than the poisoned sweep (the sweep keeps the
    last *finished* sweep's id while the queue retries it)."""
    from shared.core.names import MAX_DEQUEUE_COUNT, SWEEP_POISON_QUEUE

    reasons: tuple[str, ...] = (
        f"its sweep {sweep_id} failed {MAX_DEQUEUE_COUNT} times in a row (the queue's maxDequeueCount) "
        f"and was moved to {SWEEP_POISON_QUEUE}; the next tick sends a new one",
    )
    if previous is not None and previous.verdict == "unreachable" and previous.sweep_id < sweep_id and previous.reasons:
        reasons += (f"last error: {previous.reasons[0]}",)
    return reasons


async def handle_poisoned_sweep(deps: SweepPoisonDeps, body: bytes | str) -> SweepPoisonOutcome:
    """Record the tenant unreachable (see the module docstring). The attempts are the configured
    ``maxDequeueCount``: the message handed over here is the extension's copy, whose ``DequeueCount``
    is 1 whatever it went through."""
    from shared.clients.sweep_queue import SweepMessage
    from shared.core.tenant import TenantError

    try:
        msg = SweepMessage.from_json(body)
    except PayloadError as exc:
        log.error("poisoned tenant sweep message is unreadable (%s); dropped", exc)
        return SweepPoisonOutcome("unreadable")
    tid = msg.tenant_id
    try:
        tenant = await deps.tenants.get(tid)
    except TenantError as exc:  # its sweep records that itself, and the digest lists the row
        log.warning("poisoned tenant sweep %s of %s: tenants row unreadable (%s); dropped", msg.sweep_id, tid, exc)
        return SweepPoisonOutcome("dropped", tid)
    if tenant is None or not tenant.enabled:
        await deps.results.forget(tid)
        log.info("poisoned tenant sweep %s of %s dropped: the tenant is no longer watched", msg.sweep_id, tid)
        return SweepPoisonOutcome("dropped", tid)
    return await _record(deps, msg, tenant)


async def _record(deps: SweepPoisonDeps, msg: SweepMessage, tenant: Tenant) -> SweepPoisonOutcome:
    """The tenant's result, ETag-checked: a sweep of the tenant may finish between the read and the write."""
    from shared.clients.sweep_results import SweepResult
    from shared.core.clock import clock
    from shared.core.names import MAX_DEQUEUE_COUNT

    tid = tenant.tenant_id
    for _ in range(WRITE_ATTEMPTS):
        previous, etag = await deps.results.read(tid)
        if previous is not None and previous.sweep_id > msg.sweep_id:
            log.info("poisoned tenant sweep %s of %s: superseded by sweep %s", msg.sweep_id, tid, previous.sweep_id)
            return SweepPoisonOutcome("superseded", tid)
        reasons = _reasons(msg.sweep_id, previous)
        result = SweepResult(tid, msg.sweep_id, "unreachable", reasons, tenant.display_name, clock.now())
        if await deps.results.put_if_unchanged(result, etag):
            with bind(tenant_id=tid):
                log.warning(
                    "tenant sweep %s of %s failed %d times: recorded unreachable for the provider's digest",
                    msg.sweep_id, tid, MAX_DEQUEUE_COUNT, extra={"event": POISONED_EVENT},
                )  # fmt: skip
            return SweepPoisonOutcome("recorded", tid, reasons)
    raise TransientError(f"the sweep result of tenant {tid} kept changing")  # the host retries the message
