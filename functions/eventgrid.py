"""Event Grid trigger: audit records or alerts pushed by a custom topic (SIEM, Logic App, export).

Graph change notifications and partner events do not cover service principals, so a producer that
already holds audit records publishes them here. The Functions Event Grid trigger answers the
subscription handshake itself. A permanent payload error is logged and acknowledged (returning
normally: retrying would never succeed, and the subscription's dead-letter keeps failed deliveries);
a transient error raises so Event Grid redelivers with its backoff.
"""

from __future__ import annotations

import logging

import azure.functions as func

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.function_name("eventgrid_audit")
@bp.event_grid_trigger(arg_name="event")
async def eventgrid_audit(event: func.EventGridEvent) -> None:
    from shared.errors import ConfigError, PayloadError
    from shared.ingest import ingest_payload
    from shared.runtime import get_services

    envelope = {
        "id": event.id,
        "eventType": event.event_type,
        "subject": event.subject,
        "eventTime": event.event_time.isoformat() if event.event_time else None,
        "dataVersion": event.data_version,
        "topic": event.topic,
        "data": event.get_json(),
    }
    try:
        svc = await get_services()
        result = await ingest_payload(svc, envelope)
    except PayloadError as exc:
        log.error("event %s rejected (not retried): %s", event.id, exc)
        return
    except ConfigError as exc:
        log.critical("configuration error, event %s will be retried: %s", event.id, exc)
        raise
    log.info("event %s processed: %s", event.id, result.summary())
