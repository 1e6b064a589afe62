"""The caller App Service Authentication vouches for: the ``X-MS-CLIENT-PRINCIPAL`` header.

App Service strips this header from incoming requests and sets it itself after signing the person
in (learn.microsoft.com/azure/app-service/configure-authentication-user-identities): base64 of
``{"auth_typ", "claims": [{"typ", "val"}…], "name_typ", "role_typ"}``. The status function refuses
a request without it (401: authentication is off or bypassed) and one whose roles lack the app role
(403). Parsed strictly: a header that is not that shape is treated as absent.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

HEADER = "x-ms-client-principal"
STATUS_ROLE = "Status.Read"
MAX_HEADER_CHARS = 16_384
MAX_CLAIMS = 500
ROLE_CLAIM_TYPES = frozenset({"roles", "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"})


class PrincipalError(ValueError):
    """The header is missing or not what App Service sends."""


@dataclass(frozen=True, slots=True)
class Principal:
    auth_type: str
    name: str | None
    roles: frozenset[str]


def parse_principal(header: str | None) -> Principal:
    """The principal in the header, or :class:`PrincipalError`."""
    if not header:
        raise PrincipalError("no client principal")
    if len(header) > MAX_HEADER_CHARS:
        raise PrincipalError("client principal too large")
    try:
        raw = json.loads(base64.b64decode(header.strip(), validate=True).decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        raise PrincipalError("client principal is not base64 JSON") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("claims"), list) or len(raw["claims"]) > MAX_CLAIMS:
        raise PrincipalError("client principal has no claims array")
    auth_type = raw.get("auth_typ")
    if not isinstance(auth_type, str) or not auth_type:
        raise PrincipalError("client principal has no auth_typ")
    name, roles = _name_and_roles(raw)
    return Principal(auth_type, name, frozenset(roles))


def _name_and_roles(raw: dict[str, Any]) -> tuple[str | None, set[str]]:
    role_typ = raw.get("role_typ")
    role_types = ROLE_CLAIM_TYPES | ({role_typ} if isinstance(role_typ, str) and role_typ else set())
    name_typ = raw.get("name_typ")
    roles: set[str] = set()
    name = None
    for claim in raw["claims"]:
        if (
            not isinstance(claim, dict)
            or not isinstance(claim.get("typ"), str)
            or not isinstance(claim.get("val"), str)
        ):
            raise PrincipalError("client principal has a malformed claim")
        if claim["typ"] in role_types:
            roles.add(claim["val"])
        elif claim["typ"] == name_typ and name is None:
            name = claim["val"][:256]
    return name, roles


def platform_auth_enabled(env: Mapping[str, str]) -> bool:
    """App Service sets ``WEBSITE_AUTH_ENABLED=True`` while its authentication is on; only then does
    it strip a client's own ``X-MS-CLIENT-PRINCIPAL`` header, so only then is the header proof."""
    return env.get("WEBSITE_AUTH_ENABLED", "").strip().lower() == "true"


def authorize(header: str | None, *, platform_auth: bool, role: str = STATUS_ROLE) -> tuple[int, Principal | None]:
    """``(200, principal)`` when the caller holds ``role``; ``(401, None)`` without a (readable)
    principal or with App Service Authentication off (the header could be the client's own);
    ``(403, principal)`` without the role."""
    if not platform_auth:
        return 401, None
    try:
        principal = parse_principal(header)
    except PrincipalError:
        return 401, None
    return (200, principal) if role in principal.roles else (403, principal)
