"""HTTP ``POST /api/alerts`` for Azure Monitor action groups (common alert schema).

Function-key auth (action groups cannot add headers: the key travels in the URL). Answers: 202 when
processed, 400 for a body that is not a common-alert-schema payload, 413 past the size limit, 415
for a non-JSON content type (none of these is retried by the action group), 503 for a transient
failure (the action group retries 503 up to 5 times).
"""

from __future__ import annotations

import json
import logging

import azure.functions as func

bp = func.Blueprint()
log = logging.getLogger(__name__)


def _answer(status: int, body: dict[str, object]) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/json")


@bp.function_name("monitor_alert")
@bp.route(route="alerts", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
async def monitor_alert(req: func.HttpRequest) -> func.HttpResponse:
    from shared.errors import ConfigError, PayloadError, TransientError, UpstreamError
    from shared.ingest import ingest
    from shared.normalize import extract
    from shared.payload import parse_json
    from shared.runtime import get_services

    ctype = (req.headers.get("content-type") or "").split(";")[0].strip().lower()
    if ctype and ctype != "application/json" and not ctype.endswith("+json"):
        return _answer(415, {"error": "content type must be application/json"})
    try:
        svc = await get_services()
        body = req.get_body()
        payload = parse_json(body, limit=svc.settings.max_payload_bytes)
        extraction = extract(payload)
        if not extraction.alerts and not extraction.records:
            raise PayloadError("not a common alert schema payload")
        result = await ingest(svc, extraction)
    except PayloadError as exc:
        return _answer(exc.status, {"error": str(exc)})
    except (TransientError, UpstreamError) as exc:
        log.warning("alert processing failed, the action group will retry: %s", exc)
        return _answer(503, {"error": "temporarily unavailable"})
    except ConfigError as exc:
        log.critical("configuration error: %s", exc)
        return _answer(503, {"error": "configuration error"})
    return _answer(202, {"accepted": True, **result.summary()})
