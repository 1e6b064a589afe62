"""Azure Key Vault secrets, the slice ``azure-keyvault-secrets`` uses: get (latest or one version)
and set (a new version), at the root of the simulator's host (``WEBEX_KEY_VAULT_URL`` = base URL).

Like the real service, a request without a bearer token gets ``401`` with a ``WWW-Authenticate``
challenge naming the tenant's authority and the vault resource; the SDK's challenge policy then gets
a token for ``https://vault.azure.net/.default`` from the (simulated) Entra token endpoint and sends
the request again. Errors use Key Vault's ``{"error": {"code", "message"}}`` envelope; secret
bundles carry ``value``, ``id`` (``{vault}/secrets/{name}/{version}``) and ``attributes``.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from simulator.errors import json_response
from simulator.keys import STATE
from simulator.middleware import bearer
from simulator.state import NotFoundError, SimState

RESOURCE = "https://vault.azure.net"


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return json_response({"error": {"code": code, "message": message}}, status, headers)


def _check(request: web.Request, state: SimState) -> web.Response | None:
    if not request.query.get("api-version"):
        return _error(400, "BadParameter", "The 'api-version' query parameter is required.")
    token = bearer(request)
    if token is None:
        challenge = (
            f'Bearer authorization="https://login.microsoftonline.com/{state.config.tenant_id}", resource="{RESOURCE}"'
        )
        return _error(401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.",
                      {"WWW-Authenticate": challenge})  # fmt: skip
    info = state.tokens.get(token)
    if info is None or "vault.azure.net" not in info.scope.lower():
        return _error(401, "Unauthorized", "AKV10032: Invalid issuer or audience.")
    return None


def _bundle(request: web.Request, name: str, entry: dict[str, Any]) -> dict[str, Any]:
    base = f"{request.scheme}://{request.host}"
    return {
        "value": entry["value"],
        "id": f"{base}/secrets/{name}/{entry['version']}",
        "attributes": {
            "enabled": True,
            "created": entry["created"],
            "updated": entry["created"],
            "recoveryLevel": "Recoverable+Purgeable",
            "recoverableDays": 90,
        },
        "tags": {},
    }


async def get_secret(request: web.Request) -> web.Response:
    state = request.app[STATE]
    problem = _check(request, state)
    if problem is not None:
        return problem
    name = request.match_info["name"]
    try:
        entry = state.get_secret(name, request.match_info.get("version") or None)
    except NotFoundError:
        return _error(404, "SecretNotFound", f"A secret with (name/id) {name} was not found in this key vault.")
    return json_response(_bundle(request, name, entry))


async def set_secret(request: web.Request) -> web.Response:
    state = request.app[STATE]
    problem = _check(request, state)
    if problem is not None:
        return problem
    name = request.match_info["name"]
    try:
        body = json.loads(await request.text())
    except ValueError:
        return _error(400, "BadParameter", "The request body is not valid JSON.")
    if not isinstance(body, dict) or not isinstance(body.get("value"), str):
        return _error(400, "BadParameter", "Property 'value' is required.")
    return json_response(_bundle(request, name, state.set_secret(name, body["value"])))


def register(app: web.Application) -> None:
    app.router.add_get("/secrets/{name}", get_secret)
    app.router.add_get("/secrets/{name}/", get_secret)  # the SDK asks for "latest" as an empty version
    app.router.add_get("/secrets/{name}/{version}", get_secret)
    app.router.add_put("/secrets/{name}", set_secret)
