"""Queue trigger: one verification run for one incident.

Messages are base64 (the host's default encoding; the sender uses ``TextBase64EncodePolicy``). A bad
message is logged and consumed (retrying cannot fix it); a transient failure raises so the queue
extension retries it, and after ``maxDequeueCount`` (host.json) it lands in ``webex-verify-poison``.
In provider mode the run acts as the incident's tenant (its Graph token, partition and contacts); a
message for a tenant no longer watched is dropped.
"""

from __future__ import annotations

import logging

import azure.functions as func

from shared.core.names import STORAGE_CONNECTION, VERIFY_QUEUE

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.function_name("verify_incident")
@bp.queue_trigger(arg_name="msg", queue_name=VERIFY_QUEUE, connection=STORAGE_CONNECTION)
async def verify_incident(msg: func.QueueMessage) -> None:
    from shared.app.warmup import warm

    await warm("full")  # first-use imports and msgraph's models off the event loop
    from shared.app.runtime import get_services
    from shared.app.verification import run_verification
    from shared.clients.verify_queue import VerifyMessage
    from shared.core.errors import PayloadError
    from shared.core.logcontext import bind

    try:
        message = VerifyMessage.from_json(msg.get_body())
    except PayloadError as exc:
        log.error("verification message %s dropped (not retried): %s", msg.id, exc)
        return
    svc = await get_services()
    scope = await svc.scope_for(message.tenant_id)  # provider mode: the run acts as the incident's tenant
    with bind(tenant_id=message.tenant_id, incident_id=message.incident_id, app=message.app_key):
        if scope is None:  # removed or disabled since: its incident waits (docs/tenants.md)
            log.warning("verification of %s dropped: tenant %s is not watched any more", message.incident_id,
                        message.tenant_id)  # fmt: skip
            return
        outcome = await run_verification(scope.verification_deps(), message)
        log.info("verification of %s attempt %s: %s", message.incident_id, message.attempt, outcome.outcome)
