"""Queue trigger on ``webex-verify-poison``: a verification message that failed ``maxDequeueCount`` (5) times.

Thin: the core (tell the admins, re-arm the incident's verification) is :mod:`shared.app.poison`. A
transient failure here raises, so the host retries this message too.
"""

from __future__ import annotations

import logging

import azure.functions as func

from shared.core.names import POISON_QUEUE, STORAGE_CONNECTION

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.function_name("verify_poison")
@bp.queue_trigger(arg_name="msg", queue_name=POISON_QUEUE, connection=STORAGE_CONNECTION)
async def verify_poison(msg: func.QueueMessage) -> None:
    from shared.app.warmup import warm

    await warm("full")  # first-use imports and msgraph's models off the event loop
    from shared.app.poison import handle_poisoned
    from shared.app.runtime import get_services
    from shared.core.logcontext import bind

    svc = await get_services()
    outcome = await handle_poisoned(
        svc.poison_deps(), msg.get_body()
    )  # not msg.dequeue_count: the poison copy's own (1)
    with bind(incident_id=outcome.incident_id):
        log.warning("poisoned verification message %s: %s", msg.id, outcome.outcome)
