"""What happens to every simulated API call before and after its handler: recording and faults.

Recording lets tests assert what the app really sent (filters, query text, mail bodies) without
reading its code; secrets are never recorded. Faults are applied here, ahead of the handlers, so any
endpoint can be made to throttle, fail, hang, answer garbage or reset the connection. ``/_sim`` is
exempt from both: the controls must keep working while an API is "down".
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from simulator.errors import (
    GRAPH_CODES,
    atlas_error_body,
    atlas_tracking_id,
    graph_error_body,
    json_response,
    la_error_body,
    webex_error_body,
    webex_tracking_id,
)
from simulator.faults import Fault, delay_or_drop, hold_request, take_fault
from simulator.keys import STATE
from simulator.state import SimState
from simulator.timefmt import graph_time

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_TOKEN_PATH = re.compile(r"^/[^/]+/oauth2/v2\.0/token$")
_SECRET_FIELDS = ("client_secret", "client_assertion", "refresh_token", "assertion", "code")
_SECRET_JSON = ("clientSecret", "client_secret", "refresh_token", "access_token")
REQUEST_ID: web.RequestKey[str] = web.RequestKey("request_id", str)
MALFORMED_BODY = '{"@odata.context":"truncated","value":[{"id":"'


def api_of(path: str) -> str:
    """Which simulated service a path belongs to (decides the error envelope)."""
    if path.startswith("/graph/"):
        return "graph"
    if path.startswith("/loganalytics/"):
        return "loganalytics"
    if path.startswith("/webexapis/"):
        return "webex"
    if path.startswith("/webexidentity/"):
        return "webexidentity"
    if _TOKEN_PATH.match(path):
        return "aad"
    if path.startswith("/secrets/") or path == "/secrets":
        return "keyvault"
    return "other"


def bearer(request: web.Request) -> str | None:
    value = request.headers.get("Authorization", "")
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _redacted_headers(request: web.Request, state: SimState) -> tuple[dict[str, str], dict[str, Any]]:
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        headers[name] = "Bearer <redacted>" if name.lower() == "authorization" else value
    token = bearer(request)
    aad = state.tokens.get(token) if token else None
    auth = {
        "authorization": token is not None,
        "token_valid": bool(token and (aad is not None or state.webex_token_valid(token))),
        "token_scope": aad.scope if aad else None,
        "token_tenant": aad.tenant if aad else None,  # whose world Graph served
    }
    return headers, auth


def _body_views(raw: bytes, content_type: str) -> tuple[Any, str, dict[str, str] | None]:
    text = raw.decode("utf-8", errors="replace")
    form: dict[str, str] | None = None
    if "application/x-www-form-urlencoded" in content_type:
        form = {k: ("<redacted>" if k in _SECRET_FIELDS else v) for k, v in parse_qsl(text, keep_blank_values=True)}
        text = "&".join(f"{k}={v}" for k, v in form.items())
    parsed: Any = None
    if text and ("json" in content_type or text.lstrip()[:1] in ("{", "[")) and form is None:
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
    return parsed, text, form


def _fault_response(fault: Fault, api: str, state: SimState, request: web.Request) -> web.Response:
    status = fault.status or 200
    headers = dict(fault.headers)
    if fault.retry_after is not None:
        headers["Retry-After"] = fault.retry_after
    if fault.malformed:
        text = fault.body if isinstance(fault.body, str) else MALFORMED_BODY
        headers.setdefault("Content-Type", "application/json")
        return web.Response(status=status, text=text, headers=headers)
    if isinstance(fault.body, str):
        headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        return web.Response(status=status, text=fault.body, headers=headers)
    body: Any = fault.body
    if body is None:
        body = _default_error_body(status, api, state, request, headers)
    if body is None:
        return web.Response(status=status, headers=headers)
    return json_response(body, status, headers)


def _default_error_body(status: int, api: str, state: SimState, request: web.Request, headers: dict[str, str]) -> Any:
    message = "Please retry again later." if status == 429 else f"Simulated fault ({status})."
    if status < 400:
        return None
    if api == "graph":
        request_id = request.get(REQUEST_ID) or str(uuid.uuid4())
        headers.setdefault("request-id", request_id)
        return graph_error_body(
            status,
            message,
            state.clock.now(),
            request_id=request_id,
            client_request_id=request_id,
            code=GRAPH_CODES.get(status),
        )
    if api == "loganalytics":
        return la_error_body(status, message)
    if api == "webex":
        return webex_error_body(message, headers.setdefault("trackingid", webex_tracking_id()))
    if api == "webexidentity":
        tracking = headers.setdefault("trackingid", atlas_tracking_id(state.request_seq))
        return atlas_error_body(str(status), message, tracking, key=str(status))
    if api == "keyvault":
        return {"error": {"code": "Throttled" if status == 429 else "InternalError", "message": message}}
    if api == "aad":
        return {
            "error": "temporarily_unavailable",
            "error_description": f"AADSTS50196: {message}",
            "error_codes": [50196],
            "timestamp": graph_time(state.clock.now()),
            "trace_id": str(uuid.uuid4()),
            "correlation_id": str(uuid.uuid4()),
        }
    return {"error": message}


def _record(request: web.Request, raw: bytes, state: Any) -> dict[str, Any]:
    """The request as the scenario API shows it, secrets redacted, appended to ``state.requests``."""
    state.request_seq += 1
    headers, auth = _redacted_headers(request, state)
    parsed, text, form = _body_views(raw, request.content_type)
    secret_keys = (*_SECRET_JSON, "value") if api_of(request.path) == "keyvault" else _SECRET_JSON
    if isinstance(parsed, dict) and any(k in parsed for k in secret_keys):
        parsed = {k: "<redacted>" if k in secret_keys else v for k, v in parsed.items()}
        text = json.dumps(parsed)  # secret values (Key Vault, service-app secrets) are never recorded
    entry: dict[str, Any] = {
        "seq": state.request_seq,
        "method": request.method,
        "path": request.path,
        "query": dict(request.query),
        "headers": headers,
        **auth,
        "json": parsed,
        "form": form,
        "text": text,
        "time": graph_time(state.clock.now()),
        "status": None,
        "fault": None,
    }
    state.requests.append(entry)
    return entry


async def _answer(
    request: web.Request, handler: Handler, entry: dict[str, Any], fault: Any, *, state: Any, api: str
) -> web.StreamResponse:
    """The handler's answer, or the injected fault's: delayed, dropped, held or replaced."""
    if fault is None:
        return await _run(handler, request, entry)
    if fault.hold is not None:  # the crash harness's k-th call (simulator.faults)
        if fault.hold == "after":
            response = await _run(handler, request, entry)
            entry["acted"], entry["answered_at"] = response.status, time.monotonic()
        return await hold_request(fault, request, entry, state.held)
    dropped = await delay_or_drop(fault, request, entry)
    if dropped is not None:
        return dropped
    if fault.status is not None or fault.malformed or fault.body is not None:
        return _fault_response(fault, api, state, request)
    return await _run(handler, request, entry)


@web.middleware
async def simulate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Record the call, apply a matching fault, else run the handler; tag Webex answers."""
    if request.path.startswith("/_sim/") or request.path == "/_sim":
        return await handler(request)
    state = request.app[STATE]
    request[REQUEST_ID] = str(uuid.uuid4())
    entry = _record(request, await request.read(), state)
    api = api_of(request.path)
    fault = take_fault(state.faults, request.method, request.path)
    response = await _answer(request, handler, entry, fault, state=state, api=api)
    if fault is not None and fault.hold is not None:
        return response  # held: the harness decides; the entry is the hold's to complete
    if api == "webex" and "trackingid" not in response.headers:
        response.headers["trackingid"] = webex_tracking_id()
    if api == "webexidentity" and "trackingid" not in response.headers:  # Control Hub tags every answer
        response.headers["trackingid"] = atlas_tracking_id(state.request_seq)
    entry["status"] = response.status
    entry["answered_at"] = time.monotonic()  # system-wide: ordered against other local servers' records
    return response


async def _run(handler: Handler, request: web.Request, entry: dict[str, Any]) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        entry["status"] = exc.status
        raise
