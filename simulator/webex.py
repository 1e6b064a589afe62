"""Webex: the public API (``/webexapis/v1``, SCIM under ``/webexapis/identity/scim``) and Control
Hub's undocumented directory-sync status call (``/webexidentity``).

The status call is how the project confirms a fix: it answers 200 while the integration's service
principal exists, is enabled and holds its consent, else 401 with the exact body the Cisco tech note
shows (``error.message[0].code == "701018"``). Public API answers carry a ``trackingid`` header, as
Webex's do, and errors use ``{message, errors[{description}], trackingId}``.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from simulator.errors import atlas_error_body, atlas_tracking_id, json_response, webex_error_body, webex_tracking_id
from simulator.keys import STATE
from simulator.middleware import bearer
from simulator.state import INTEGRATION_APP_ID, INTEGRATION_NAME, SimState
from simulator.timefmt import webex_time

MARKDOWN_LIMIT = 7439
BOT_EMAIL = "remediator@webex.bot"


def _webex_id(kind: str, raw: str) -> str:
    """Webex ids are base64 of ``ciscospark://us/<KIND>/<uuid>``."""
    return base64.b64encode(f"ciscospark://us/{kind}/{raw}".encode()).decode().rstrip("=")


def _error(status: int, message: str) -> web.Response:
    tracking = webex_tracking_id()
    return json_response(webex_error_body(message, tracking), status, {"trackingid": tracking})


def world_of(request: web.Request) -> SimState:
    """The org a Webex token belongs to: the default tenant's, or an extra tenant's (each tenant of
    the simulator has its own Webex org and tokens, ``/_sim/tenants``)."""
    root = request.app[STATE]
    token = bearer(request)
    if not root.tenants or root.webex_token_valid(token):
        return root
    return next((w for w in root.tenants.values() if w.webex_token_valid(token)), root)


def _authorized(request: web.Request, state: SimState) -> bool:
    return state.webex_token_valid(bearer(request))


_UNAUTHORIZED = "The request requires a valid access token set in the Authorization request header."


async def post_message(request: web.Request) -> web.Response:
    state = world_of(request)
    if not _authorized(request, state):
        return _error(401, _UNAUTHORIZED)
    try:
        body = json.loads(await request.text())
    except ValueError:
        return _error(400, "Unable to parse the request body as JSON.")
    if not isinstance(body, dict):
        return _error(400, "Unable to parse the request body as JSON.")
    room_id = body.get("roomId")
    if not isinstance(room_id, str) or not room_id:
        return _error(400, "Either roomId, toPersonId or toPersonEmail must be provided.")
    markdown, text = body.get("markdown"), body.get("text")
    if not isinstance(markdown, str) and not isinstance(text, str):
        return _error(400, "One of text, markdown, files or attachments must be provided.")
    for name, value in (("markdown", markdown), ("text", text)):
        if isinstance(value, str) and len(value.encode("utf-8")) > MARKDOWN_LIMIT:
            return _error(400, f"Message {name} length exceeds the maximum of {MARKDOWN_LIMIT} bytes.")
    if room_id != state.config.room_id:
        return _error(404, "Could not find a room with provided ID.")
    token = bearer(request)
    is_bot = token == state.config.webex_bot_token
    message: dict[str, Any] = {
        "id": _webex_id("MESSAGE", str(uuid.uuid4())),
        "roomId": room_id,
        "roomType": "group",
        "text": text if isinstance(text, str) else _plain(markdown or ""),
        "personId": _webex_id("PEOPLE", _person_uuid(is_bot)),
        "personEmail": BOT_EMAIL if is_bot else "admin@example.com",
        "created": webex_time(state.clock.now()),
    }
    if isinstance(markdown, str):
        message["markdown"] = markdown
    parent = body.get("parentId")
    if isinstance(parent, str) and parent:
        if not any(m["id"] == parent for m in state.webex_messages):
            return _error(400, "Invalid parentId: the parent message was not found.")
        message["parentId"] = parent
    state.webex_messages.append(message)
    return json_response(message)


def _plain(markdown: str) -> str:
    return markdown.replace("**", "").replace("__", "").replace("`", "")


def _person_uuid(is_bot: bool) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "sim-bot" if is_bot else "sim-admin"))


async def people_me(request: web.Request) -> web.Response:
    state = world_of(request)
    if not _authorized(request, state):
        return _error(401, _UNAUTHORIZED)
    is_bot = bearer(request) == state.config.webex_bot_token
    return json_response(
        {
            "id": _webex_id("PEOPLE", _person_uuid(is_bot)),
            "emails": [BOT_EMAIL if is_bot else "admin@example.com"],
            "displayName": "Webex sync remediator" if is_bot else "Control Hub admin",
            "orgId": _webex_id("ORGANIZATION", state.config.org_id),
            "type": "bot" if is_bot else "person",
            "created": "2024-01-01T00:00:00.000Z",
        }
    )


SCIM_SCOPE = "identity:people_read"
"""The scope SCIM 2 Users reads need (developer.webex.com/docs/api/v1/scim-2-users: "Read Users"
requires ``identity:people_read`` or ``identity:people_rw``). A bot's token never carries it: bots get
only the ``spark:*`` messaging scopes (developer.webex.com/docs/bots)."""


def _scim_refusal(request: web.Request, state: SimState) -> web.Response | None:
    """SCIM's 401 (no valid token), 403 (a token without the SCIM scope: the bot's; or another
    organization), or ``None`` to go on. The 403 body is Webex's documented error shape
    (developer.webex.com/docs/api/basics: ``{message, errors[{description}], trackingId}``) with the
    "Missing required scope" wording Webex uses for a scope the token lacks."""
    if not _authorized(request, state):
        return _error(401, _UNAUTHORIZED)
    if bearer(request) == state.config.webex_bot_token:
        return _error(403, f"Missing required scope: {SCIM_SCOPE}")
    if request.match_info["org"] != state.config.org_id:
        return _error(403, "The caller is not authorized to access this organization.")
    return None


async def scim_users(request: web.Request) -> web.Response:
    state = world_of(request)
    refused = _scim_refusal(request, state)
    if refused is not None:
        return refused
    try:
        count = max(0, min(int(request.query.get("count", "100")), 1000))
        start = max(1, int(request.query.get("startIndex", "1")))
    except ValueError:
        return _error(400, "count and startIndex must be integers.")
    users = [_scim_user(i, state) for i in range(1, 4)]
    page = users[start - 1 : start - 1 + count]
    return json_response(
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "totalResults": len(users),
            "itemsPerPage": len(page),
            "startIndex": start,
            "Resources": page,
        }
    )


async def scim_user(request: web.Request) -> web.Response:
    state = world_of(request)
    refused = _scim_refusal(request, state)
    if refused is not None:
        return refused
    for i in range(1, 4):
        user = _scim_user(i, state)
        if user["id"] == request.match_info["user"]:
            return json_response(user)
    return _error(404, "User not found.")


def _scim_user(n: int, state: SimState) -> dict[str, Any]:
    uid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"sim-user-{n}"))
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": uid,
        "userName": f"user{n}@contoso.com",
        "active": True,
        "name": {"givenName": f"User{n}", "familyName": "Contoso"},
        "displayName": f"User {n}",
        "emails": [{"value": f"user{n}@contoso.com", "type": "work", "primary": True}],
        "meta": {
            "resourceType": "User",
            "created": "2024-01-01T00:00:00.000Z",
            "lastModified": webex_time(state.synced_at()),
        },
    }


async def sync_status(request: web.Request) -> web.Response:
    """``GET /extIntegration/azureAD/{orgId}/v1/WebexApplications/status``, in the mode
    :mod:`simulator.controlhub` describes (undocumented: every behaviour here is a guess, so a mode)."""
    state = world_of(request)
    mode = state.status_call
    tracking = atlas_tracking_id(state.request_seq)
    headers = {"trackingid": tracking}
    if not _authorized(request, state):
        body = atlas_error_body("100001", "Unauthorized: invalid or missing Webex access token.", tracking)
        return json_response(body, 401, headers)
    refused = _status_refusal(request, state, tracking) if mode.mode == "admin_only" else None
    if refused is not None:
        return json_response(refused[1], refused[0], headers)
    if request.match_info["org"] != state.config.org_id:
        body = atlas_error_body("400001", "Organization not found.", tracking, key="404")
        return json_response(body, 404, headers)
    healthy = mode.reported_healthy(state.clock.now(), state.integration_healthy())
    if mode.mode == "unknown_body":
        return json_response(_unfamiliar_body(state, healthy), 200, headers)
    if not healthy:
        description = f"Request unauthorized. client-request-id: {uuid.uuid4()}"
        return json_response(atlas_error_body("701018", description, tracking), 401, headers)
    sp = state.sp_by_app("integration")
    body = {
        "orgId": state.config.org_id,
        "status": "ENABLED",
        "azureTenantId": state.config.tenant_id,
        "applications": [
            {"appId": INTEGRATION_APP_ID, "displayName": INTEGRATION_NAME, "objectId": sp["id"] if sp else None,
             "status": "ENABLED"}
        ],
        "lastCheckedTime": webex_time(state.clock.now()),
    }  # fmt: skip
    return json_response(body, 200, headers)


def _status_refusal(request: web.Request, state: SimState, tracking: str) -> tuple[int, dict[str, Any]] | None:
    """``admin_only``: the bot's token is forbidden (403), any token but the admin's own is 401 with a
    code that is not the consent one (so it says nothing about the tenant)."""
    token = bearer(request)
    if token == state.config.webex_access_token:
        return None
    if token == state.config.webex_bot_token:
        return 403, atlas_error_body("100003", "Forbidden: this API requires an administrator.", tracking, key="403")
    return 401, atlas_error_body("100002", "Unauthorized: the token is not an administrator session.", tracking)


def _unfamiliar_body(state: SimState, healthy: bool) -> dict[str, Any]:
    """``unknown_body``: a 200 whose shape the project has never seen (no ``status``/``state``, no
    ``applications``, no error code); the state is in it, in words the project cannot know."""
    return {
        "orgId": state.config.org_id,
        "syncHealth": {"indicator": "GREEN" if healthy else "RED", "since": webex_time(state.last_sync)},
        "connectors": [{"kind": "AZURE_AD", "provisioning": "RUNNING" if healthy else "HALTED"}],
    }


def observe_integration(request: web.Request, response: web.StreamResponse) -> None:
    """After every request: note the integration's health for the ``lagging`` status mode."""
    state = world_of(request)
    state.status_call.observe(state.clock.now(), state.integration_healthy())


INVALID_REFRESH = "The refresh token provided is expired, revoked, malformed, or invalid."
INVALID_CLIENT = "The client_id or client_secret provided is invalid."


async def access_token(request: web.Request) -> web.Response:
    """``POST /v1/access_token`` (form): ``grant_type=refresh_token`` with the service app's
    ``client_id``, ``client_secret`` and ``refresh_token``. Answers the token pair Webex documents
    (``access_token``, ``expires_in``, ``refresh_token``, ``refresh_token_expires_in``,
    ``token_type``); an expired or revoked refresh token is a 400, a wrong client a 401."""
    form = await request.post()
    state = _refresh_world(request.app[STATE], str(form.get("refresh_token", "")))
    grant = str(form.get("grant_type", ""))
    if grant != "refresh_token":
        return _error(400, f"Unsupported grant_type: {grant[:40]!r}.")
    missing = [k for k in ("client_id", "client_secret", "refresh_token") if not form.get(k)]
    if missing:
        return _error(400, f"Missing required parameter(s): {', '.join(missing)}.")
    result = state.refresh_webex_token(str(form["client_id"]), str(form["client_secret"]), str(form["refresh_token"]))
    if result in ("invalid_client", "invalid_grant"):
        status, message = (401, INVALID_CLIENT) if result == "invalid_client" else (400, INVALID_REFRESH)
        if state.webex_policy.echo_form:  # hostile/broken endpoint: the form comes back in the error
            echoed = urlencode({k: str(v) for k, v in form.items()})
            return json_response(
                {"message": f"{message} Request: {echoed}", "error_description": echoed, "trackingid": "ECHO_1"},
                status,
            )
        return _error(status, message)
    return json_response(result)


def _refresh_world(root: SimState, refresh_token: str) -> SimState:
    """The org whose authorization of the service app issued ``refresh_token``: the default tenant's,
    or an extra tenant's (a provider's service app authorized in each customer's own org)."""
    if not root.tenants or refresh_token in root.webex_refresh_tokens:
        return root
    return next((w for w in root.tenants.values() if refresh_token in w.webex_refresh_tokens), root)


async def application_token(request: web.Request) -> web.Response:
    """``POST /v1/applications/{applicationId}/token`` (JSON ``clientId``, ``clientSecret``,
    ``targetOrgId``), called with a developer's or integration's token: the service app's first
    token pair in an org whose full admin authorized it ("Generate tokens" on developer.webex.com)."""
    state = request.app[STATE]
    if not _authorized(request, state):
        return _error(401, _UNAUTHORIZED)
    try:
        body = json.loads(await request.text())
    except ValueError:
        body = None
    if not isinstance(body, dict) or not all(
        isinstance(body.get(k), str) for k in ("clientId", "clientSecret", "targetOrgId")
    ):
        return _error(400, "clientId, clientSecret and targetOrgId are required.")  # fmt: skip
    result = state.issue_webex_pair(body["clientId"], body["clientSecret"], body["targetOrgId"])
    if result == "invalid_client":
        return _error(401, INVALID_CLIENT)
    if result == "not_authorized":
        return _error(403, "The service app is not authorized in the target organization.")
    return json_response(result)


def register(app: web.Application) -> None:
    app.router.add_post("/webexapis/v1/access_token", access_token)
    app.router.add_post("/webexapis/v1/applications/{app_id}/token", application_token)
    app.router.add_post("/webexapis/v1/messages", post_message)
    app.router.add_get("/webexapis/v1/people/me", people_me)
    app.router.add_get("/webexapis/identity/scim/{org}/v2/Users", scim_users)
    app.router.add_get("/webexapis/identity/scim/{org}/v2/Users/{user}", scim_user)
    app.router.add_get("/webexidentity/extIntegration/azureAD/{org}/v1/WebexApplications/status", sync_status)

    async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
        observe_integration(request, response)

    app.on_response_prepare.append(on_prepare)
