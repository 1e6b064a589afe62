"""Error answers in each service's own documented shape.

The project maps errors by reading these bodies (Graph ``error.code``, Log Analytics ``error.code``,
Webex ``trackingId``, Control Hub's ``701018``), so each API gets its real envelope, including from
injected faults.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from aiohttp import web

from simulator.timefmt import graph_error_date

GRAPH_CODES = {
    400: "BadRequest",
    401: "InvalidAuthenticationToken",
    403: "Authorization_RequestDenied",
    404: "Request_ResourceNotFound",
    409: "Request_MultipleObjectsWithSameKeyValue",
    429: "TooManyRequests",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}
LA_CODES = {
    400: "BadArgumentError",
    401: "AuthorizationRequiredError",
    403: "InsufficientAccessError",
    404: "PathNotFoundError",
    429: "ThrottledError",
    500: "InternalServerError",
    503: "ServiceUnavailableError",
    504: "GatewayTimeout",
}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps(body, separators=(",", ":")),
        content_type="application/json",
        headers=headers,
    )


def graph_error_body(
    status: int, message: str, now: datetime, *, request_id: str, client_request_id: str, code: str | None = None
) -> dict[str, Any]:
    inner: dict[str, Any] = {
        "date": graph_error_date(now),
        "request-id": request_id,
        "client-request-id": client_request_id,
    }
    return {"error": {"code": code or GRAPH_CODES.get(status, "UnknownError"), "message": message, "innerError": inner}}


def graph_error(
    request: web.Request, status: int, message: str, now: datetime, code: str | None = None
) -> web.Response:
    request_id = str(uuid.uuid4())
    client_request_id = request.headers.get("client-request-id") or request_id
    body = graph_error_body(status, message, now, request_id=request_id, client_request_id=client_request_id, code=code)
    return json_response(body, status, {"request-id": request_id, "client-request-id": client_request_id})


def la_error_body(status: int, message: str, code: str | None = None) -> dict[str, Any]:
    return {
        "error": {
            "code": code or LA_CODES.get(status, "InternalServerError"),
            "message": message,
            "correlationId": str(uuid.uuid4()),
        }
    }


def webex_tracking_id() -> str:
    return f"ROUTER_{str(uuid.uuid4()).upper()}"


def webex_error_body(message: str, tracking_id: str) -> dict[str, Any]:
    return {"message": message, "errors": [{"description": message}], "trackingId": tracking_id}


def atlas_tracking_id(n: int) -> str:
    return f"ATLAS_{uuid.uuid4()}_{n}"


def atlas_error_body(code: str, description: str, tracking_id: str, key: str = "401") -> dict[str, Any]:
    """Control Hub's backend envelope, as in the seed's 401: ``error.message`` is a LIST."""
    return {"error": {"key": key, "message": [{"code": code, "description": description}]}, "trackingId": tracking_id}
