"""Queue trigger (provider mode): sweep one customer tenant (``webex-tenant-sweep``).

The timer sends one message per tenant (:func:`shared.app.tenant_sweep.fan_out`); the platform
spreads the messages over instances. A bad message is logged and consumed (retrying cannot fix it);
a tenant removed or disabled since the tick is dropped; throttling, revoked consent and bad
configuration are the tenant's own result (never raised); only a transient failure raises, so the
queue extension retries that one message and, after ``maxDequeueCount``, moves it to
``webex-tenant-sweep-poison``, whose trigger here (:func:`tenant_sweep_poison`) records the tenant
unreachable for the provider's digest (:mod:`shared.app.sweep_poison`).
"""

from __future__ import annotations

import logging

import azure.functions as func

from shared.core.names import STORAGE_CONNECTION, SWEEP_POISON_QUEUE, SWEEP_QUEUE

bp = func.Blueprint()
log = logging.getLogger(__name__)

SWEEP_EVENT = "tenant_sweep"
"""Structured event of every tenant sweep: its outcome, verdict and the audit budget it used."""


@bp.function_name("tenant_sweep")
@bp.queue_trigger(arg_name="msg", queue_name=SWEEP_QUEUE, connection=STORAGE_CONNECTION)
async def tenant_sweep(msg: func.QueueMessage) -> None:
    from shared.app.warmup import warm

    await warm("full")  # first-use imports and msgraph's models off the event loop
    from shared.app.runtime import get_services
    from shared.app.tenant_sweep import sweep_tenant
    from shared.clients.sweep_queue import SweepMessage
    from shared.core.errors import PayloadError
    from shared.core.logcontext import bind

    try:
        message = SweepMessage.from_json(msg.get_body())
    except PayloadError as exc:
        log.error("tenant sweep message %s dropped (not retried): %s", msg.id, exc)
        return
    svc = await get_services()
    with bind(tenant_id=message.tenant_id):
        out = await sweep_tenant(svc.tenant_sweep_deps(), message)
        extra = {"event": SWEEP_EVENT, "outcome": out.outcome, "verdict": out.verdict or "",
                 "audit_reads": out.audit_reads, "audit_refused": out.audit_refused}  # fmt: skip
        log.info("tenant sweep %s of %s: %s %s", message.sweep_id, message.tenant_id, out.outcome,
                 out.verdict or "", extra=extra)  # fmt: skip


@bp.function_name("tenant_sweep_poison")
@bp.queue_trigger(arg_name="msg", queue_name=SWEEP_POISON_QUEUE, connection=STORAGE_CONNECTION)
async def tenant_sweep_poison(msg: func.QueueMessage) -> None:
    """A sweep message that failed ``maxDequeueCount`` times: the tenant's result says so. A transient
    storage failure raises, so the host retries this message too; a bad message never does."""
    from shared.app.warmup import warm

    await warm("full")  # first-use imports off the event loop
    from shared.app.runtime import get_services
    from shared.app.sweep_poison import SweepPoisonDeps, handle_poisoned_sweep
    from shared.clients.sweep_results import SweepResults

    svc = await get_services()
    deps = SweepPoisonDeps(svc.tenant_store(), SweepResults(svc.table()))
    out = await handle_poisoned_sweep(deps, msg.get_body())  # not msg.dequeue_count: the poison copy's own (1)
    log.info("poisoned tenant sweep message %s: %s", msg.id, out.outcome)
