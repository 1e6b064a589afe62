"""Queue trigger: the work the push triggers deferred (records → incidents, alert re-queries).

Messages are base64 (the host's default encoding), written by :mod:`shared.clients.intake_queue`. A bad
message is logged and consumed (retrying cannot fix it); a transient failure (Graph, Log Analytics,
Table, a notice not delivered) raises so the queue extension retries it, and after
``maxDequeueCount`` (host.json) it lands in ``webex-intake-poison``. Repeats are harmless: records
dedupe by id, alert windows by their re-query marker.
"""

from __future__ import annotations

import logging

import azure.functions as func

from shared.core.names import INTAKE_QUEUE, STORAGE_CONNECTION

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.function_name("intake_process")
@bp.queue_trigger(arg_name="msg", queue_name=INTAKE_QUEUE, connection=STORAGE_CONNECTION)
async def intake_process(msg: func.QueueMessage) -> None:
    from shared.app.warmup import warm

    await warm("full")  # first-use imports and msgraph's models off the event loop
    from shared.app.push import ingest
    from shared.app.runtime import get_services
    from shared.core.errors import PayloadError
    from shared.core.logcontext import bind
    from shared.detect.intake import IntakeMessage

    try:
        message = IntakeMessage.from_json(msg.get_body())
    except PayloadError as exc:
        log.error("intake message %s dropped (not retried): %s", msg.id, exc)
        return
    svc = await get_services()
    result = await ingest(svc.push_deps(), message.extraction())
    touched = {o.incident_id for o in result.outcomes if o.incident_id}
    with bind(tenant_id=svc.settings.tenant_id, incident_id=touched.pop() if len(touched) == 1 else None):
        log.info("intake %s from %s %s: %s", msg.id, message.origin, message.ref, result.summary())
