"""Microsoft Entra ID's token endpoint (client credentials) and the admin-consent page.

Every tenant the simulator holds has its authority ``/{tenant}/…``; a token carries the tenant of
the URL it was issued at (its ``tid``), and Graph serves that tenant's world. Besides a client
secret, the token endpoint takes a client assertion (``client_assertion_type=urn:ietf:params:oauth:
client-assertion-type:jwt-bearer``): what azure-identity's ``ClientAssertionCredential`` posts for
an app whose credential is a federated identity credential (the assertion being the managed
identity's token for ``api://AzureADTokenExchange``). The simulator does not verify signatures; it
checks the assertion is a JWT whose ``aud`` is the token exchange audience and records its claims.

azure-identity posts ``client_id``, ``client_secret``, ``scope`` and
``grant_type=client_credentials`` to ``{authority}/{tenant}/oauth2/v2.0/token``. Issued tokens are
opaque random strings remembered with their scope; Graph and Log Analytics accept only those, so a
client that skips authentication fails here as it would in Azure. Errors use the AADSTS envelope
azure-identity parses (``error``, ``error_description``, ``error_codes``).
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from typing import Any

from aiohttp import web

from simulator.audit import Actor
from simulator.errors import json_response
from simulator.keys import STATE
from simulator.state import DEFAULT_ACTOR, INTEGRATION_APP_ID, NotFoundError, SimState
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


JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"
MAX_ASSERTION = 16 * 1024


def _world(state: SimState, tenant: str) -> SimState | None:
    """The world the authority names: the default tenant (also for ``organizations``/``common``) or
    an extra tenant by GUID or initial domain; ``None`` when unknown."""
    if tenant.lower() in ("organizations", "common"):
        return state
    try:
        return state.world(tenant)
    except NotFoundError:
        return None


def assertion_claims(assertion: str) -> dict[str, Any] | None:
    """The payload of a compact JWT (three base64url segments), unverified; ``None`` when it is not one."""
    parts = assertion.split(".")
    if len(assertion) > MAX_ASSERTION or len(parts) != 3 or not all(parts[:2]):
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return None
    return claims if isinstance(claims, dict) else None


def _assertion_problem(state: SimState, form: Any, client_id: str, tenant: str) -> web.Response | None:
    """A client assertion that is not a JWT, or not minted for the token exchange: AADSTS refusals."""
    if str(form.get("client_assertion_type", "")) != JWT_BEARER:
        return _aad_error(state, 400, "invalid_request", 900144, "The request body must contain client_assertion_type.")
    claims = assertion_claims(str(form.get("client_assertion", "")))
    if claims is None:
        return _aad_error(state, 401, "invalid_client", 50027, "JWT token is invalid or is malformed.")
    aud = claims.get("aud")
    auds = aud if isinstance(aud, list) else [aud]
    if EXCHANGE_AUDIENCE not in auds:
        message = "No matching federated identity record found for presented assertion audience."
        return _aad_error(state, 401, "invalid_client", 700212, message)
    state.assertions.append(
        {"tenant": tenant, "client_id": client_id, "iss": claims.get("iss"), "sub": claims.get("sub"), "aud": aud}
    )
    return None


def exchange_token(client_id: str, tenant: str) -> str:
    """The managed identity's token for ``api://AzureADTokenExchange``: JWT-shaped (unsigned, like
    :func:`simulator.client.federated_assertion`), so the product's own path — the identity's token
    presented as the provider app's client assertion — runs end to end against the simulator."""

    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    claims = {"aud": EXCHANGE_AUDIENCE, "iss": f"https://login.microsoftonline.com/{tenant}/v2.0", "sub": client_id}
    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lt"


def _client_known(state: SimState, world: SimState, client_id: str) -> bool:
    """The deployment's own app in the default tenant; the provider's app wherever it is consented."""
    cid = client_id.lower()
    if world is state and cid == state.config.client_id.lower():
        return True
    return cid == state.config.provider_client_id.lower() and world.provider_consented


async def openid_configuration(request: web.Request) -> web.Response:
    """``GET /{tenant}/v2.0/.well-known/openid-configuration``: the tenant's OpenID metadata. For a
    tenant named by GUID or by domain the ``issuer`` carries the tenant GUID; an unknown tenant is
    the 400 ``invalid_tenant`` (AADSTS90002) Entra answers."""
    state = request.app[STATE]
    tenant = request.match_info["tenant"]
    world = None if tenant.lower() in ("organizations", "common") else _world(state, tenant)
    if world is None:
        return _aad_error(
            state, 400, "invalid_tenant", 90002,
            f"Tenant '{tenant[:100]}' not found. Check to make sure you have the correct tenant ID and are signing "
            "into the correct cloud.",
        )  # fmt: skip
    base = f"{request.scheme}://{request.host}"
    guid = world.config.tenant_id.lower()
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
    world = _world(state, tenant)
    if world is None:
        return _aad_error(state, 400, "invalid_request", 90002, f"Tenant '{tenant}' not found.")
    form = await request.post()
    grant_type = str(form.get("grant_type", ""))
    client_id = str(form.get("client_id", ""))
    scope = str(form.get("scope", ""))
    if grant_type != "client_credentials":
        return _aad_error(state, 400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
    if not _client_known(state, world, client_id):
        return _aad_error(
            state, 400, "unauthorized_client", 700016,
            f"Application with identifier '{client_id[:100]}' was not found in the directory '{tenant[:100]}'.",
        )  # fmt: skip
    tid = world.config.tenant_id
    if "client_assertion" in form or "client_assertion_type" in form:
        refused = _assertion_problem(state, form, client_id, tid)
        if refused is not None:
            return refused
    elif str(form.get("client_secret", "")) != state.config.client_secret:
        return _aad_error(state, 401, "invalid_client", 7000215, "Invalid client secret provided.")
    if not scope.endswith("/.default"):
        return _aad_error(state, 400, "invalid_scope", 1002012, "The provided value for scope is not valid.")
    if scope.lower() == f"{EXCHANGE_AUDIENCE.lower()}/.default":
        access_token = exchange_token(client_id, tid)  # what a federated credential's assertion must be
    else:
        access_token = state.issue_token(scope, client_id, tid)
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
    world = _world(state, tenant)
    if world is None:
        return _aad_error(state, 400, "invalid_request", 90002, f"Tenant '{tenant}' not found.")
    client_id = request.query.get("client_id", "").lower()
    if client_id == state.config.provider_client_id.lower():
        world.provider_consented = True  # the provider's app onboarded in this tenant
        return web.Response(text="Admin consent granted for the provider's app.", content_type="text/plain")
    if client_id != INTEGRATION_APP_ID:
        return _aad_error(state, 400, "unauthorized_client", 700016, "Application was not found in the directory.")
    actor = request.query.get("login_hint") or DEFAULT_ACTOR
    records = world.consent(Actor(upn=actor), "integration")
    return web.Response(
        text=f"Admin consent granted for Cisco Webex Identity Integration ({len(records)} audit record(s)).",
        content_type="text/plain",
    )


def register(app: web.Application) -> None:
    app.router.add_post("/{tenant}/oauth2/v2.0/token", token)
    app.router.add_get("/{tenant}/adminconsent", admin_consent)
    app.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", openid_configuration)
