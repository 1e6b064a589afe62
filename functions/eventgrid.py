"""Event Grid trigger: audit records or alerts pushed by a custom topic (SIEM, Logic App, export).

Graph change notifications and partner events do not cover service principals, so a producer that
already holds audit records publishes them here. The Functions Event Grid trigger answers the
subscription handshake itself. The trigger only parses, normalizes and classifies (CPU), then writes
one durable message to the intake queue and returns: no Graph, Table or notification I/O before the
ack, so a slow Graph never makes Event Grid redeliver. A permanent payload error is logged and
acknowledged (retrying would never succeed); a failed queue write raises so Event Grid redelivers.

A subscription may deliver the Event Grid schema or CloudEvents 1.0. The annotation does not choose
between them: azure-functions' ``EventGridEventInConverter.decode`` (1.26) returns a ``func.CloudEvent``
when the event's JSON object has a top-level ``specversion`` key and a ``func.EventGridEvent``
otherwise, whatever the parameter is annotated with. The annotation is only checked when the app is
indexed, and must be one of those two classes (a ``Union`` is refused), hence ``func.EventGridEvent``
here while ``_envelope`` accepts either. A CloudEvent's ``data_base64`` is not decoded by the
library: it arrives among the extension attributes, and the envelope is rebuilt from either class,
``data_base64`` included, for the normalizers.
"""

from __future__ import annotations

import logging
from typing import Any

import azure.functions as func

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.function_name("eventgrid_audit")
@bp.event_grid_trigger(arg_name="event")
async def eventgrid_audit(event: func.EventGridEvent) -> None:
    from shared.app.warmup import warm

    await warm("push")  # first-use imports and msgraph's models off the event loop
    from shared.app.runtime import get_services
    from shared.core.clock import clock
    from shared.core.errors import ConfigError, PayloadError
    from shared.detect.intake import admit_alerts, prepare
    from shared.detect.normalize import extract

    envelope = _envelope(event)
    try:
        svc = await get_services(ready=False)
        extraction = extract(envelope)
        admit_alerts(extraction, workspace_id=svc.settings.log_analytics_workspace_id, now=clock.now())
        intake = prepare(extraction, svc.settings.catalogue, origin="eventgrid", ref=event.id)
    except PayloadError as exc:
        log.error("event %s rejected (not retried): %s", event.id, exc)
        return
    except ConfigError as exc:
        log.critical("configuration error, event %s will be retried: %s", event.id, exc)
        raise
    await svc.intake().send_all(intake.encoded())  # TransientError: Event Grid redelivers
    log.info("event %s accepted: %s", event.id, intake.summary())


def _envelope(event: func.EventGridEvent | func.CloudEvent) -> dict[str, Any]:
    """The event as its JSON envelope, in the schema it arrived in."""
    if isinstance(event, func.CloudEvent):
        envelope: dict[str, Any] = {
            "specversion": event.specversion,
            "id": event.id,
            "source": event.source,
            "type": event.type,
            "subject": event.subject,
            "time": event.time.isoformat() if event.time else None,
            "datacontenttype": event.datacontenttype,
        }
        extensions = event.extension_attrs
        if event.get_json() is None and "data_base64" in extensions:
            envelope["data_base64"] = extensions["data_base64"]
        else:
            envelope["data"] = event.get_json()
        return envelope
    return {
        "id": event.id,
        "eventType": event.event_type,
        "subject": event.subject,
        "eventTime": event.event_time.isoformat() if event.event_time else None,
        "dataVersion": event.data_version,
        "topic": event.topic,
        "data": event.get_json(),
    }
