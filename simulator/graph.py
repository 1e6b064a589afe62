"""Microsoft Graph v1.0, the slice the project calls, under ``/graph/v1.0``.

Served through one catch-all route and a small regex table because Graph paths carry OData syntax
aiohttp's router does not model (``delta()``, ``servicePrincipals(appId='…')``,
``deletedItems/graph.servicePrincipal``). Shapes follow learn.microsoft.com and what msgraph-sdk
deserializes: collections are ``{"@odata.context", "value", "@odata.nextLink"}`` with an opaque
``$skiptoken``; delta rounds end with ``@odata.deltaLink``; errors are ``{"error": {"code",
"message", "innerError": {"date", "request-id", "client-request-id"}}}``.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web

from simulator.errors import graph_error, json_response
from simulator.graph_behaviour import GraphBehaviour, RateWindow
from simulator.keys import STATE
from simulator.middleware import bearer
from simulator.odata import (
    Filter,
    ODataError,
    decode_token,
    encode_token,
    order_by,
    parse_filter,
    parse_select,
    parse_top,
    require_supported,
    select,
)
from simulator.state import NotFoundError, ScenarioError, SimState
from simulator.timefmt import graph_time

PREFIX = "/graph/v1.0"
GraphHandler = Callable[[web.Request, SimState, "re.Match[str]"], Awaitable[web.Response]]
_ROUTES: list[tuple[str, re.Pattern[str], GraphHandler]] = []


def route(method: str, pattern: str) -> Callable[[GraphHandler], GraphHandler]:
    def deco(fn: GraphHandler) -> GraphHandler:
        _ROUTES.append((method, re.compile(f"^{pattern}$", re.IGNORECASE), fn))
        return fn

    return deco


def base_url(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}{PREFIX}"


def _not_found(request: web.Request, state: SimState, object_id: str) -> web.Response:
    message = f"Resource '{object_id}' does not exist or one of its queried reference-property objects are not present."
    return graph_error(request, 404, message, state.clock.now(), "Request_ResourceNotFound")


def _bad_request(request: web.Request, state: SimState, message: str, code: str = "Request_BadRequest") -> web.Response:
    return graph_error(request, 400, message, state.clock.now(), code)


def _auth_problem(request: web.Request, state: SimState) -> str | None:
    token = bearer(request)
    if token is None:
        return "Access token is empty."
    info = state.tokens.get(token)
    if info is None:
        return "Access token validation failure. Invalid signature."
    if "loganalytics" in info.scope.lower():
        return "Access token validation failure. Invalid audience."
    try:
        state.world(info.tenant)
    except NotFoundError:  # the tenant was removed: its tokens name a directory that is gone
        return "Access token validation failure. Invalid tenant."
    return None


def _too_many(request: web.Request, state: SimState, wait: float) -> web.Response:
    """Graph's 429: ``TooManyRequests`` in the error envelope and ``Retry-After`` in whole seconds
    (learn.microsoft.com/graph/throttling, "Sample response")."""
    response = graph_error(
        request, 429, "Too many requests. Retry after the time in the Retry-After header.", state.clock.now(),
        "TooManyRequests",
    )  # fmt: skip
    response.headers["Retry-After"] = str(max(math.ceil(wait), 1))
    return response


async def dispatch(request: web.Request) -> web.StreamResponse:
    root = request.app[STATE]
    tail = "/" + request.match_info["tail"]
    problem = _auth_problem(request, root)
    if problem is not None:
        return graph_error(request, 401, problem, root.clock.now(), "InvalidAuthenticationToken")
    latency = root.graph_behaviour.call_latency_seconds
    if latency > 0:  # real time, for the bench (a Graph round trip); 0 in tests
        await asyncio.sleep(latency)
    info = root.tokens[bearer(request) or ""]
    state = root.world(info.tenant)
    wait = root.throttled_for(state.config.tenant_id, tail.lower().startswith("/auditlogs"))
    if wait is not None:
        return _too_many(request, root, wait)
    return await _route(request, state, tail)


async def _route(request: web.Request, state: SimState, tail: str) -> web.StreamResponse:
    path_known = False
    for method, pattern, handler in _ROUTES:
        m = pattern.match(tail)
        if m is None:
            continue
        path_known = True
        if method != request.method:
            continue
        try:
            return await handler(request, state, m)
        except ODataError as exc:
            return _bad_request(request, state, str(exc), "Request_UnsupportedQuery")
        except NotFoundError as exc:
            return _not_found(request, state, str(exc))
        except ScenarioError as exc:
            return _bad_request(request, state, str(exc))
    if path_known:
        return graph_error(
            request, 405, f"Method {request.method} is not allowed.", state.clock.now(), "Request_BadRequest"
        )
    return graph_error(
        request,
        400,
        f"Resource not found for the segment '{tail.strip('/').split('/')[0]}'.",
        state.clock.now(),
        "BadRequest",
    )


# ------------------------------------------------------------------ paging
def _query(params: dict[str, str]) -> str:
    """Query strings as Graph writes them in links: ``$`` and quotes literal, spaces ``%20``."""
    return urlencode(params, safe="$'(),", quote_via=quote)


def _page(
    request: web.Request,
    items: list[dict[str, Any]],
    context: str,
    default_top: int = 100,
    max_top: int = 999,
    *,
    sizes: GraphBehaviour | None = None,
) -> web.Response:
    """One page from ``$skiptoken`` on; ``sizes`` (directoryAudits) makes pages short or empty."""
    q = request.query
    offset = index = 0
    if "$skiptoken" in q:
        token = decode_token(q["$skiptoken"])
        offset, index = int(token.get("o", 0)), int(token.get("p", 0))
    offset += int(q.get("$skip", "0") or 0) if "$skiptoken" not in q else 0
    top = parse_top(q.get("$top"), default_top, max_top)
    count = sizes.page_size(index, top) if sizes is not None else top
    props = parse_select(q.get("$select"))
    chunk = [select(i, props) for i in items[offset : offset + count]]
    ctx = f"{base_url(request)}/$metadata#{context}" + (f"({','.join(props)})" if props else "")
    body: dict[str, Any] = {"@odata.context": ctx}
    if q.get("$count", "").lower() == "true" and (sizes is not None or _eventual(request)):
        body["@odata.count"] = len(items)  # on directory objects only with ConsistencyLevel (else ignored)
    body["value"] = chunk
    if offset + count < len(items):
        params = {k: v for k, v in q.items() if k not in ("$skiptoken", "$skip")}
        params["$skiptoken"] = encode_token({"o": offset + count, "p": index + 1})
        body["@odata.nextLink"] = f"{base_url(request)}{request.path[len(PREFIX) :]}?{_query(params)}"
    return json_response(body)


def _eventual(request: web.Request) -> bool:
    return request.headers.get("ConsistencyLevel", "").strip().lower() == "eventual"


ADVANCED_ONLY_OPERATORS = ("ne", "not", "endswith")


def require_advanced_query(request: web.Request, flt: Filter | None) -> None:
    """Directory objects (servicePrincipals, deletedItems, oauth2PermissionGrants,
    appRoleAssignments) answer what needs the index store only with the *advanced query parameters*,
    ``ConsistencyLevel: eventual`` AND ``$count=true`` (learn.microsoft.com/graph/aad-advanced-queries,
    "Query scenarios that require advanced query capabilities"): ``ne`` and ``not``, ``endsWith``,
    ``$filter`` together with ``$orderby``, ``$orderby`` on servicePrincipal properties, ``$search``.
    Without them real Graph answers 400 ``Request_UnsupportedQuery``; so does this route."""
    q = request.query
    if _eventual(request) and q.get("$count", "").lower() == "true":
        return
    hint = (
        "because the required parameters might be missing. Try adding $count=true query parameter and "
        "ConsistencyLevel:eventual header. Refer to https://aka.ms/graph-docs/advanced-queries for more information"
    )
    used = {op for _, op in flt.uses} if flt is not None else set()
    for op in ADVANCED_ONLY_OPERATORS:
        if op in used:
            raise ODataError(f"Operator '{op}' is not supported {hint}")
    if "$orderby" in q:
        raise ODataError(f"Sorting ($orderby{' with $filter' if '$filter' in q else ''}) is not supported {hint}")
    if "$search" in q:
        raise ODataError("Request with $search query parameter only works through MSGraph with a special "
                         "request header: 'ConsistencyLevel: eventual'")  # fmt: skip


def _filtered(items: list[dict[str, Any]], request: web.Request) -> list[dict[str, Any]]:
    flt = parse_filter(request.query.get("$filter"))
    require_advanced_query(request, flt)
    result = [i for i in items if flt is None or flt(i)]
    return order_by(result, request.query.get("$orderby"))


# ------------------------------------------------------------------ servicePrincipals
@route("GET", r"/servicePrincipals")
async def list_service_principals(request: web.Request, state: SimState, m: re.Match[str]) -> web.Response:
    items = _filtered(state.read_service_principals(), request)
    return _page(request, items, "servicePrincipals")


@route("GET", r"/servicePrincipals\(appId='(?P<app_id>[^']*)'\)")
async def sp_by_app_id(request: web.Request, state: SimState, m: re.Match[str]) -> web.Response:
    app_id = m["app_id"].lower()
    sp = next((s for s in state.read_service_principals() if s["appId"].lower() == app_id), None)
    if sp is None:
        raise NotFoundError(m["app_id"])
    return _entity(request, sp, "servicePrincipals/$entity")


def _entity(request: web.Request, obj: dict[str, Any], context: str) -> web.Response:
    props = parse_select(request.query.get("$select"))
    return json_response({"@odata.context": f"{base_url(request)}/$metadata#{context}", **select(obj, props)})


@route("GET", r"/servicePrincipals/delta(?:\(\))?")
async def sp_delta(request: web.Request, state: SimState, m: re.Match[str]) -> web.Response:
    """A delta round: the full set first, then only changes since the token (deletions as
    ``@removed``: ``changed`` = in the recycle bin, ``deleted`` = gone for good)."""
    q = request.query
    since: int | None
    if "$skiptoken" in q:
        tok = decode_token(q["$skiptoken"])
        since, upto, offset = tok.get("since"), int(tok["upto"]), int(tok["o"])
        flt_text, sel = tok.get("f"), tok.get("s")
    elif "$deltatoken" in q:
        offset = 0
        upto = state.change_seq
        if q["$deltatoken"].lower() == "latest":
            since = upto
            flt_text, sel = q.get("$filter"), q.get("$select")
        else:
            tok = decode_token(q["$deltatoken"])
            since, flt_text, sel = int(tok["seq"]), tok.get("f"), tok.get("s")
            if _delta_expired(state, tok):
                return _delta_expired_answer(request, state, flt_text, sel)
    else:
        since, upto, offset = None, state.change_seq, 0
        flt_text, sel = q.get("$filter"), q.get("$select")
    flt = parse_filter(flt_text)
    if flt is not None and any(p.lower() != "id" for p in flt.paths):
        raise ODataError("Delta query on servicePrincipals supports $filter on id only.")
    items = _delta_items(state, since, upto)
    if flt is not None:
        items = [i for i in items if flt(i)]
    props = parse_select(sel)
    page_size = (
        parse_top(q.get("$top"), 100, 999)
        if "$skiptoken" not in q
        else int(decode_token(q["$skiptoken"]).get("n", 100))
    )
    chunk = [select(i, props) for i in items[offset : offset + page_size]]
    path = request.path
    body: dict[str, Any] = {"@odata.context": f"{base_url(request)}/$metadata#servicePrincipals", "value": chunk}
    if offset + page_size < len(items):
        token = {"since": since, "upto": upto, "o": offset + page_size, "n": page_size, "f": flt_text, "s": sel}
        body["@odata.nextLink"] = (
            f"{request.scheme}://{request.host}{path}?{_query({'$skiptoken': encode_token(token)})}"
        )
    else:
        token = {"seq": upto, "f": flt_text, "s": sel, "t": state.clock.now().timestamp(), "e": state.delta_epoch}
        body["@odata.deltaLink"] = (
            f"{request.scheme}://{request.host}{path}?{_query({'$deltatoken': encode_token(token)})}"
        )
    return json_response(body)


def _delta_expired(state: SimState, tok: dict[str, Any]) -> bool:
    """A delta link dies 7 days after it was issued (graph_behaviour.DELTA_TOKEN_LIFETIME), or when
    a test ends every link issued so far (``/_sim/graph/expire-delta``: "server state has changed")."""
    issued = tok.get("t")
    if not isinstance(issued, int | float) or tok.get("e") != state.delta_epoch:
        return True
    return state.clock.now().timestamp() - issued > state.graph_behaviour.delta_token_lifetime


def _delta_expired_answer(request: web.Request, state: SimState, flt: str | None, sel: str | None) -> web.Response:
    """The two documented answers to a dead delta link. ``400`` ``syncStateNotFound`` "The sync
    state generation is not found. The delta token is expired and data must be synchronized again."
    (Dev Blog, "Duration of change tracking tokens for identity and education resources"); or ``410
    Gone`` with a ``Location`` holding the initial query, i.e. no ``$deltatoken`` (delta-query-overview,
    "Synchronization reset"; its body is not documented: the code below is a stand-in)."""
    now = state.clock.now()
    if state.graph_behaviour.delta_expiry == "410":
        params = {k: v for k, v in (("$filter", flt), ("$select", sel)) if v}
        response = graph_error(request, 410, "The delta token is no longer valid; restart synchronization.", now,
                               "resyncRequired")  # fmt: skip
        query = f"?{_query(params)}" if params else ""
        response.headers["Location"] = f"{request.scheme}://{request.host}{request.path}{query}"
        return response
    message = "The sync state generation is not found. The delta token is expired and data must be synchronized again."
    return graph_error(request, 400, message, now, "syncStateNotFound")


def _delta_items(state: SimState, since: int | None, upto: int) -> list[dict[str, Any]]:
    if since is None:
        return [dict(sp) for sp in state.service_principals.values()]
    changed: dict[str, None] = {}
    for seq, sp_id in state.changes:
        if since < seq <= upto:
            changed.pop(sp_id, None)
            changed[sp_id] = None
    out: list[dict[str, Any]] = []
    for sp_id in changed:
        if sp_id in state.service_principals:
            out.append(dict(state.service_principals[sp_id]))
        else:
            reason = "changed" if sp_id in state.deleted else "deleted"
            out.append({"id": sp_id, "@removed": {"reason": reason}})
    return out


@route("GET", r"/servicePrincipals/(?P<id>[0-9a-fA-F-]{36})")
async def get_sp(request: web.Request, state: SimState, m: re.Match[str]) -> web.Response:
    return _entity(request, state.read_sp(m["id"]), "servicePrincipals/$entity")


@route("GET", r"/servicePrincipals/(?P<id>[0-9a-fA-F-]{36})/appRoleAssignments")
async def sp_app_role_assignments(request: web.Request, state: SimState, m: re.Match[str]) -> web.Response:
    """Application permissions granted TO the service principal (appRoleAssignment objects)."""
    sp = state.read_sp(m["id"])
    items = _filtered(state.app_roles_of(sp["id"]), request)
    return _page(request, items, f"servicePrincipals('{sp['id']}')/appRoleAssignments")


@route("GET", r"/servicePrincipals/(?P<id>[0-9a-fA-F-]{36})/owners")
async def sp_owners(request: web.Request, state: SimState, m: re.Match[str]) -> web.Response:
    """The owners (directoryObjects, each with its ``@odata.type``) of the service principal."""
    sp = state.get_sp(m["id"])
    return _page(request, state.owners_of(sp["id"]), "directoryObjects")


@route("PATCH", r"/servicePrincipals/(?P<id>[0-9a-fA-F-]{36})")
async def patch_sp(request: web.Request, state: SimState, m: re.Match[str]) -> web.Response:
    state.get_sp(m["id"])
    try:
        body = await request.json()
    except ValueError:
        return _bad_request(request, state, "Unable to read JSON request payload.")
    if not isinstance(body, dict):
        return _bad_request(request, state, "Unable to read JSON request payload.")
    body = {k: v for k, v in body.items() if not k.startswith("@odata")}
    state.update_sp(m["id"].lower(), body, state.remediator_actor())
    return web.Response(status=204)


@route("DELETE", r"/servicePrincipals/(?P<id>[0-9a-fA-F-]{36})")
async def delete_sp(request: web.Request, state: SimState, m: re.Match[str]) -> web.Response:
    sp = state.get_sp(m["id"])
    key = next((a for a in ("integration", "identity") if state.app_id_of(a).lower() == sp["appId"].lower()), None)
    if key is None:
        raise ScenarioError("The simulator only deletes the Webex service principals.")
    state.delete(key, hard=False, actor=state.remediator_actor())
    return web.Response(status=204)


# ------------------------------------------------------------------ recycle bin
@route("GET", r"/directory/deletedItems/(?:microsoft\.)?graph\.servicePrincipal")
async def list_deleted(request: web.Request, state: SimState, m: re.Match[str]) -> web.Response:
    items = _filtered([d.sp for d in state.read_deleted()], request)
    return _page(request, items, "servicePrincipals")


@route("GET", r"/directory/deletedItems/(?P<id>[0-9a-fA-F-]{36})")
async def get_deleted(request: web.Request, state: SimState, m: re.Match[str]) -> web.Response:
    gone = next((d for d in state.read_deleted() if d.sp["id"] == m["id"].lower()), None)
    if gone is None:
        raise NotFoundError(m["id"])
    obj = {"@odata.type": "#microsoft.graph.servicePrincipal", **gone.sp}
    return _entity(request, obj, "directory/deletedItems/$entity")


@route("POST", r"/directory/deletedItems/(?P<id>[0-9a-fA-F-]{36})/restore")
async def restore(request: web.Request, state: SimState, m: re.Match[str]) -> web.Response:
    sp = state.restore(m["id"], state.remediator_actor())
    body = {
        "@odata.context": f"{base_url(request)}/$metadata#directoryObjects/$entity",
        "@odata.type": "#microsoft.graph.servicePrincipal",
        **sp,
    }
    return json_response(body)


@route("DELETE", r"/directory/deletedItems/(?P<id>[0-9a-fA-F-]{36})")
async def purge(request: web.Request, state: SimState, m: re.Match[str]) -> web.Response:
    state.purge(m["id"], state.remediator_actor())
    return web.Response(status=204)


# ------------------------------------------------------------------ audit logs
_EQ, _EQ_START = frozenset({"eq"}), frozenset({"eq", "startswith"})
AUDIT_FILTERS: dict[str, frozenset[str]] = {
    "activitydatetime": frozenset({"eq", "ge", "le"}),
    "activitydisplayname": _EQ_START,
    "correlationid": _EQ,
    "id": _EQ,
    "loggedbyservice": _EQ,
    "initiatedby/user/id": _EQ,
    "initiatedby/user/displayname": _EQ,
    "initiatedby/user/userprincipalname": _EQ_START,
    "initiatedby/app/appid": _EQ,
    "initiatedby/app/displayname": _EQ,
    "targetresources": frozenset({"any"}),
    "targetresources/id": _EQ,
    "targetresources/displayname": _EQ_START,
}
"""What learn.microsoft.com documents for ``$filter`` on directoryAudits (resource page and List
directoryAudits: ``eq``, ``ge``, ``le``, ``startswith``): ``category``, ``result``, ``in``,
``ne`` and ``not`` are refused, so the app cannot come to depend on an undocumented filter."""


@route("GET", r"/auditLogs/directoryAudits")
async def directory_audits(request: web.Request, state: SimState, m: re.Match[str]) -> web.Response:
    throttled = _audit_throttle(request, state)
    if throttled is not None:
        return throttled
    records = state.graph_audits()  # late records only once they arrived (graph_behaviour: latency)
    flt = parse_filter(request.query.get("$filter"))
    require_supported(flt, AUDIT_FILTERS)
    records = [r for r in records if flt is None or flt(r)]
    records = order_by(records, request.query.get("$orderby") or "activityDateTime desc")
    return _page(request, records, "auditLogs/directoryAudits", sizes=state.graph_behaviour)


def _audit_throttle(request: web.Request, state: SimState) -> web.Response | None:
    """``auditLogRoot`` allows 5 requests per 10 s per app per tenant AND 122 per 10 s per app across
    all tenants (throttling-limits, "Identity and access reports service limits"): past either, 429
    ``TooManyRequests`` with ``Retry-After`` (seconds) until both windows let one through
    (learn.microsoft.com/graph/throttling). The limits are the root's settings; a refused request
    counts against neither."""
    root = request.app[STATE]
    info = root.tokens.get(bearer(request) or "")
    client = info.client_id.lower() if info is not None else ""
    behaviour, now = root.graph_behaviour, root.clock.now()
    tenant = state.audit_windows.setdefault(client, RateWindow())
    app = root.audit_app_windows.setdefault(client, RateWindow())
    waits = [
        tenant.wait(now, behaviour.audit_rate_limit, behaviour.audit_rate_window),
        app.wait(now, behaviour.audit_app_rate_limit, behaviour.audit_rate_window),
    ]
    wait = max((w for w in waits if w is not None), default=None)
    if wait is not None:
        return _too_many(request, state, wait)
    tenant.times.append(now)
    app.times.append(now)
    return None


@route("GET", r"/auditLogs/directoryAudits/(?P<id>[^/]+)")
async def directory_audit(request: web.Request, state: SimState, m: re.Match[str]) -> web.Response:
    throttled = _audit_throttle(request, state)
    if throttled is not None:
        return throttled
    rec = next((r for r in state.graph_audits() if r["id"] == m["id"]), None)
    if rec is None:
        raise NotFoundError(m["id"])
    return _entity(request, rec, "auditLogs/directoryAudits/$entity")


# ------------------------------------------------------------------ mail
def _ci(obj: dict[str, Any], key: str) -> Any:
    """Graph action parameters are case-insensitive: msgraph-sdk sends ``Message`` and
    ``SaveToSentItems``, the docs show ``message`` and ``saveToSentItems``."""
    lowered = key.lower()
    return next((v for k, v in obj.items() if k.lower() == lowered), None)


def _mail_problem(body: Any) -> str | None:
    if not isinstance(body, dict) or not isinstance(_ci(body, "message"), dict):
        return "Required property 'message' is missing."
    msg = _ci(body, "message")
    if not isinstance(msg.get("subject"), str):
        return "Required property 'subject' is missing."
    content = msg.get("body")
    if not isinstance(content, dict) or not isinstance(content.get("content"), str):
        return "Required property 'body' is missing."
    if str(content.get("contentType", "text")).lower() not in ("text", "html"):
        return "Invalid body contentType."
    recipients = msg.get("toRecipients")
    if not isinstance(recipients, list) or not recipients:
        return "At least one recipient is required, but none were found."
    for r in recipients:
        address = (r.get("emailAddress") or {}).get("address") if isinstance(r, dict) else None
        if not isinstance(address, str) or "@" not in address:
            return "At least one recipient is not valid."
    return None


@route("POST", r"/users/(?P<user>[^/]+)/sendMail")
async def send_mail(request: web.Request, state: SimState, m: re.Match[str]) -> web.Response:
    if request.content_type == "text/plain":
        return await _send_mime(request, state, m)
    try:
        body = json.loads(await request.text())
    except ValueError:
        return _bad_request(request, state, "Unable to read JSON request payload.", "ErrorInvalidRequest")
    problem = _mail_problem(body)
    if problem is not None:
        code = "ErrorInvalidRecipients" if "recipient" in problem else "ErrorInvalidRequest"
        return _bad_request(request, state, problem, code)
    state.mails.append(
        {
            "from": m["user"],
            "message": _ci(body, "message"),
            "saveToSentItems": _ci(body, "saveToSentItems"),
            "time": graph_time(state.clock.now()),
        }
    )
    return web.Response(status=202)


async def _send_mime(request: web.Request, state: SimState, m: re.Match[str]) -> web.Response:
    """Graph's MIME form: ``Content-Type: text/plain``, the body a base64 MIME message."""
    import base64
    import binascii
    from email import message_from_bytes, policy

    raw = await request.read()
    try:
        mime = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        return _bad_request(
            request, state, "Invalid base64 string for MIME content.", "ErrorMimeContentInvalidBase64String"
        )
    msg = message_from_bytes(mime, policy=policy.default)
    recipients = [a.strip() for a in str(msg.get("To") or "").split(",") if a.strip()]
    if not recipients:
        return _bad_request(request, state, "At least one recipient is not valid.", "ErrorInvalidRecipients")
    parts: dict[str, str] = {}
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype in ("text/plain", "text/html") and ctype not in parts:
            parts[ctype] = str(part.get_content())
    state.mails.append(
        {
            "from": m["user"],
            "message": {
                "subject": str(msg.get("Subject") or ""),
                "toRecipients": [{"emailAddress": {"address": r}} for r in recipients],
                "body": {"contentType": "html", "content": parts.get("text/html", "")},
                "textBody": parts.get("text/plain", ""),
            },
            "mime": True,
            "time": graph_time(state.clock.now()),
        }
    )
    return web.Response(status=202)


# ------------------------------------------------------------------ grants
@route("GET", r"/oauth2PermissionGrants")
async def list_grants(request: web.Request, state: SimState, m: re.Match[str]) -> web.Response:
    items = _filtered(state.read_grants(), request)
    return _page(request, items, "oauth2PermissionGrants")


def register(app: web.Application) -> None:
    app.router.add_route("*", PREFIX + "/{tail:.*}", dispatch)
