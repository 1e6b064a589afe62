"""HTTP ``POST /api/alerts`` for Azure Monitor action groups (common alert schema).

Function-key auth (action groups cannot add headers: the key travels in the URL). The body is
parsed, normalized and classified in-process and written to the intake queue; the re-query and
the incident work run in the intake queue function. Answers: 202 once the intake message is stored,
400 for a body that is not a common-alert-schema payload or whose alerts would steer the re-query
(another workspace than ``LOG_ANALYTICS_WORKSPACE_ID``, a window longer than 2 days, not in the
past, or more than 50 alerts: :func:`shared.detect.intake.admit_alerts`), 413 past the size limit, 415 for
a non-JSON content type (none of these is retried by the action group), 503 when the queue write
failed (the action group retries 503 up to 5 times).
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

import azure.functions as func

if TYPE_CHECKING:
    from shared.core.models import Extraction

bp = func.Blueprint()
log = logging.getLogger(__name__)


def _answer(status: int, body: dict[str, object]) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/json")


@bp.function_name("monitor_alert")
@bp.route(route="alerts", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
async def monitor_alert(req: func.HttpRequest) -> func.HttpResponse:
    from shared.app.warmup import warm

    await warm("push")  # first-use imports and msgraph's models off the event loop
    from shared.app.runtime import get_services
    from shared.core.clock import clock
    from shared.core.errors import ConfigError, PayloadError, TransientError
    from shared.detect.intake import admit_alerts, prepare
    from shared.detect.normalize import extract_json

    ctype = (req.headers.get("content-type") or "").split(";")[0].strip().lower()
    if ctype and ctype != "application/json" and not ctype.endswith("+json"):
        return _answer(415, {"error": "content type must be application/json"})
    try:
        svc = await get_services(ready=False)
        extraction = extract_json(req.get_body(), limit=svc.settings.max_payload_bytes)
        if not extraction.alerts and not extraction.records and not extraction.skipped:
            raise PayloadError("not a common alert schema payload")
        admit_alerts(extraction, workspace_id=svc.settings.log_analytics_workspace_id, now=clock.now())
        intake = prepare(extraction, svc.settings.catalogue, origin="alert", ref=_alert_ref(extraction))
        await svc.intake().send_all(intake.encoded())
    except PayloadError as exc:
        return _answer(exc.status, {"error": str(exc)})
    except TransientError as exc:
        log.warning("alert not stored, the action group will retry: %s", exc)
        return _answer(503, {"error": "temporarily unavailable"})
    except ConfigError as exc:
        log.critical("configuration error: %s", exc)
        return _answer(503, {"error": "configuration error"})
    log.info("alert accepted: %s", intake.summary())
    return _answer(202, {"accepted": True, **intake.summary()})


def _alert_ref(extraction: Extraction) -> str:
    """The alert id, for the logs (legacy alerts with embedded rows may have no window)."""
    return extraction.alerts[0].alert_id if extraction.alerts else "embedded-rows"
