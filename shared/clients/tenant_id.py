"""``TENANT_ID`` given as a domain, resolved to the tenant GUID at start-up (docs/security.md, point 3).

Every Log Analytics row and diagnostic-settings record names the tenant by GUID, so a deployment
configured with ``contoso.onmicrosoft.com`` would drop them all as foreign. Entra publishes each
tenant's OpenID configuration under its domain as well as its GUID:
``{ENTRA_LOGIN_BASE}/{domain}/v2.0/.well-known/openid-configuration``, whose ``issuer`` is
``{login}/{tenant GUID}/v2.0``. The GUID read from there replaces the domain in the process's
settings (cached per login base and domain, so one look-up per process). A domain that cannot be
resolved is a :class:`ConfigError` naming the setting and the fix — never a guess; a network
failure is a :class:`TransientError` (the invocation is retried).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

from shared.core.catalogue import is_guid
from shared.core.errors import ConfigError, TransientError

if TYPE_CHECKING:
    import httpx

    from shared.core.settings import Settings

_cache: dict[tuple[str, str], str] = {}
TIMEOUT = 10.0
MAX_BODY = 64 * 1024


def discovery_url(login_base: str, domain: str) -> str:
    return f"{login_base.rstrip('/')}/{quote(domain, safe='')}/v2.0/.well-known/openid-configuration"


def _refuse(domain: str, url: str, why: str) -> ConfigError:
    return ConfigError(
        [
            f"TENANT_ID: the domain {domain} could not be resolved to its tenant id ({why}; {url}). Set TENANT_ID "
            "to the tenant's GUID (Entra admin center → Overview → Tenant ID)"
        ]
    )


def _guid_from_issuer(issuer: object) -> str | None:
    if not isinstance(issuer, str) or len(issuer) > 2048:
        return None
    segments = [s for s in urlsplit(issuer).path.split("/") if s]
    return segments[0].lower() if segments and is_guid(segments[0]) else None


async def resolve_tenant(settings: Settings, http: httpx.AsyncClient) -> Settings:
    """``settings`` with ``tenant_id`` as a GUID: unchanged when it is one, else resolved."""
    import httpx

    domain = settings.tenant_id
    if is_guid(domain):
        return settings
    key = (settings.entra_login_base, domain.lower())
    if key not in _cache:
        url = discovery_url(settings.entra_login_base, domain)
        try:
            response = await http.get(url, timeout=TIMEOUT, follow_redirects=False)
        except httpx.HTTPError as exc:
            raise TransientError(
                f"TENANT_ID {domain}: OpenID configuration unreachable ({type(exc).__name__})"
            ) from None
        if response.status_code >= 500 or response.status_code == 429:
            raise TransientError(f"TENANT_ID {domain}: OpenID configuration answered {response.status_code}")
        if response.status_code != 200:
            raise _refuse(domain, url, f"Entra answered HTTP {response.status_code}: no such tenant in this cloud")
        try:
            body = response.json() if len(response.content) <= MAX_BODY else None
        except ValueError:
            body = None
        guid = _guid_from_issuer(body.get("issuer")) if isinstance(body, dict) else None
        if guid is None:
            raise _refuse(domain, url, "the answer carries no issuer with a tenant GUID")
        _cache[key] = guid
    return settings.model_copy(update={"tenant_id": _cache[key]})


def forget_resolved() -> None:
    """Tests start each case with nothing resolved."""
    _cache.clear()
