"""Microsoft Entra ID's token endpoint (client credentials) and the admin-consent page.

azure-identity posts ``client_id``, ``client_secret``, ``scope`` and
``grant_type=client_credentials`` to ``{authority}/{tenant}/oauth2/v2.0/token``. Issued tokens are
opaque random strings remembered with their scope; Graph and Log Analytics accept only those, so a
client that skips authentication fails here as it would in Azure. Errors use the AADSTS envelope
azure-identity parses (``error``, ``error_description``, ``error_codes``).
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from simulator.audit import Actor
from simulator.errors import json_response
from simulator.keys import STATE
from simulator.state import DEFAULT_ACTOR, INTEGRATION_APP_ID, SimState
from simulator.timefmt import graph_time

TOKEN_LIFETIME = 3599


def _aad_error(state: SimState, status: int, error: str, code: int, description: str) -> web.Response:
    body: dict[str, Any] = {
        "error": error,
        "error_description": f"AADSTS{code}: {description}",
        "error_codes": [code],
        "timestamp": graph_time(state.clock.now()),
        "trace_id": str(uuid.uuid4()),
        "correlation_id": str(uuid.uuid4()),
    }
    return json_response(body, status)


def _tenant_matches(state: SimState, tenant: str) -> bool:
    known = (state.config.tenant_id.lower(), state.config.tenant_domain.lower(), "organizations", "common")
    return tenant.lower() in known


async def openid_configuration(request: web.Request) -> web.Response:
    """``GET /{tenant}/v2.0/.well-known/openid-configuration``: the tenant's OpenID metadata. For a
    tenant named by GUID or by domain the ``issuer`` carries the tenant GUID; an unknown tenant is
    the 400 ``invalid_tenant`` (AADSTS90002) Entra answers."""
    state = request.app[STATE]
    tenant = request.match_info["tenant"]
    if tenant.lower() not in (state.config.tenant_id.lower(), state.config.tenant_domain.lower()):
        return _aad_error(
            state, 400, "invalid_tenant", 90002,
            f"Tenant '{tenant[:100]}' not found. Check to make sure you have the correct tenant ID and are signing "
            "into the correct cloud.",
        )  # fmt: skip
    base = f"{request.scheme}://{request.host}"
    guid = state.config.tenant_id.lower()
    return json_response(
        {
            "token_endpoint": f"{base}/{guid}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{base}/{guid}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{base}/{guid}/v2.0",
            "request_uri_parameter_supported": False,
            "authorization_endpoint": f"{base}/{guid}/oauth2/v2.0/authorize",
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
        }
    )


async def token(request: web.Request) -> web.Response:
    state = request.app[STATE]
    tenant = request.match_info["tenant"]
    if not _tenant_matches(state, tenant):
        return _aad_error(state, 400, "invalid_request", 90002, f"Tenant '{tenant}' not found.")
    form = await request.post()
    grant_type = str(form.get("grant_type", ""))
    client_id = str(form.get("client_id", ""))
    secret = str(form.get("client_secret", ""))
    scope = str(form.get("scope", ""))
    if grant_type != "client_credentials":
        return _aad_error(state, 400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
    if client_id.lower() != state.config.client_id.lower():
        return _aad_error(
            state, 400, "unauthorized_client", 700016, f"Application with identifier '{client_id}' was not found."
        )
    if secret != state.config.client_secret:
        return _aad_error(state, 401, "invalid_client", 7000215, "Invalid client secret provided.")
    if not scope.endswith("/.default"):
        return _aad_error(state, 400, "invalid_scope", 1002012, "The provided value for scope is not valid.")
    access_token = state.issue_token(scope, client_id)
    return json_response(
        {
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME,
            "ext_expires_in": TOKEN_LIFETIME,
            "access_token": access_token,
        }
    )


async def admin_consent(request: web.Request) -> web.Response:
    """``GET /{tenant}/adminconsent?client_id=…``: the page an admin opens from the notice.

    Real Entra shows a consent prompt; here opening it *is* the admin's approval, which lets the demo
    play the fix end to end. Only the Webex integration's client_id is known.
    """
    state = request.app[STATE]
    tenant = request.match_info["tenant"]
    if not _tenant_matches(state, tenant):
        return _aad_error(state, 400, "invalid_request", 90002, f"Tenant '{tenant}' not found.")
    if request.query.get("client_id", "").lower() != INTEGRATION_APP_ID:
        return _aad_error(state, 400, "unauthorized_client", 700016, "Application was not found in the directory.")
    actor = request.query.get("login_hint") or DEFAULT_ACTOR
    records = state.consent(Actor(upn=actor), "integration")
    return web.Response(
        text=f"Admin consent granted for Cisco Webex Identity Integration ({len(records)} audit record(s)).",
        content_type="text/plain",
    )


def register(app: web.Application) -> None:
    app.router.add_post("/{tenant}/oauth2/v2.0/token", token)
    app.router.add_get("/{tenant}/adminconsent", admin_consent)
    app.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", openid_configuration)
