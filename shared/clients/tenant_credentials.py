"""A credential per customer tenant, without a secret (``TENANCY_MODE=provider``).

The provider's multi-tenant app (``PROVIDER_APP_CLIENT_ID``) has the deployment's managed identity as
a federated identity credential. A customer tenant's token is azure-identity's
``ClientAssertionCredential`` for that tenant, whose assertion is the managed identity's own token
for :data:`EXCHANGE_SCOPE` (Microsoft Entra workload identity federation). Locally the "managed
identity" is the credential of :mod:`shared.clients.credentials` (the simulator's token endpoint,
``AZURE_AUTHORITY_HOST``), so the same token requests really run.

``ClientAssertionCredential`` calls its assertion function synchronously; the managed identity's
token is async. :class:`FederatedTenantCredential` therefore fetches the assertion first (the
managed identity's credential caches it) and hands it to the inner credential, which caches the
tenant's token: N calls as one tenant make one token request to that tenant. One credential per
tenant, at most ``max_tenants`` kept (least recently used closed first).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from shared.core.lru import Lru
from shared.core.tenant import tenant_guid

if TYPE_CHECKING:
    from collections.abc import Mapping

    from azure.core.credentials import AccessToken, AccessTokenInfo, TokenRequestOptions
    from azure.core.credentials_async import AsyncTokenCredential

    from shared.core.settings import Settings

EXCHANGE_SCOPE = "api://AzureADTokenExchange/.default"
"""The audience Entra expects of a federated identity credential's assertion (public cloud; the
US Government and China clouds use their own: :func:`cloud_options`)."""

EXCHANGE_AUDIENCES = {
    "login.microsoftonline.com": "api://AzureADTokenExchange",
    "login.microsoftonline.us": "api://AzureADTokenExchangeUSGov",  # US Government, GCC High and DoD alike
    "login.chinacloudapi.cn": "api://AzureADTokenExchangeChina",
    "login.partner.microsoftonline.cn": "api://AzureADTokenExchangeChina",
}
"""The token-exchange audience of each cloud's login host (Microsoft Entra, "Configure an application
to trust a managed identity": audiences per cloud; the same map azure-identity and MSAL use to pick
the assertion's audience from the authority). The infra sets the federated credential's audience
from the same cloud (infra/main.bicep), so both ends agree."""

DEFAULT_MAX_TENANTS = 2048

TOKEN_CONNECTIONS = 16
"""Connections the tenants' token requests share (aiohttp's default is 100). A token request is one
per tenant per token lifetime, but a first sweep of 48 tenants at once (host.json) asks for 48 at
the same moment, and each TLS connection keeps asyncio's SSL buffer (~128 KB): 48 of them were ~6 MB
of the 150 MB an instance may use (bench/bench_tenants.py). 16 at ~100–300 ms a token request are
50–160 tokens a second, more than an instance's sweeps need."""


def cloud_options(settings: Settings, environ: Mapping[str, str]) -> dict[str, Any]:
    """What a tenant credential needs to know of the cloud, derived from the configured endpoints:
    the assertion's scope (:data:`EXCHANGE_AUDIENCES` by ``ENTRA_LOGIN_BASE``'s host; a host of no
    known cloud — the simulator, a proxy — keeps the public cloud's) and the authority the customer
    tenant's token is asked from (``ENTRA_LOGIN_BASE``'s host, unless ``AZURE_AUTHORITY_HOST`` names
    one: azure-identity then uses that, as every other credential of the app does). The Graph scope
    itself is the Graph endpoint's (``Settings.graph_scope``: ``https://dod-graph.microsoft.us/.default``…)."""
    from urllib.parse import urlsplit

    host = (urlsplit(settings.entra_login_base).hostname or "").lower()
    audience = EXCHANGE_AUDIENCES.get(host, EXCHANGE_AUDIENCES["login.microsoftonline.com"])
    options: dict[str, Any] = {"exchange_scope": f"{audience}/.default"}
    if host in EXCHANGE_AUDIENCES and not environ.get("AZURE_AUTHORITY_HOST", "").strip():
        options["authority"] = host
    return options


class FederatedTenantCredential:
    """An ``AsyncTokenCredential`` for one tenant: the provider app, asserted by the managed identity."""

    def __init__(
        self,
        tenant_id: str,
        client_id: str,
        assertion_source: AsyncTokenCredential,
        *,
        exchange_scope: str = EXCHANGE_SCOPE,
        **options: Any,
    ) -> None:
        from azure.identity.aio import ClientAssertionCredential

        from shared.clients.credentials import bounded_retry_policy_class

        self.tenant_id = tenant_guid(tenant_id)
        self._source = assertion_source
        self._scope = exchange_scope
        self._assertion = ""
        self._one_at_a_time = asyncio.Lock()  # a sweep's concurrent checks ask at once: one token request
        options.setdefault("retry_policy_class", bounded_retry_policy_class())
        self._inner = ClientAssertionCredential(self.tenant_id, client_id, self._current_assertion, **options)

    def _current_assertion(self) -> str:
        return self._assertion

    async def _refresh_assertion(self) -> None:
        self._assertion = (await self._source.get_token(self._scope)).token

    async def get_token(
        self, *scopes: str, claims: str | None = None, tenant_id: str | None = None, enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:  # fmt: skip
        async with self._one_at_a_time:  # the first asks Entra, the others find its token cached
            await self._refresh_assertion()
            return await self._inner.get_token(
                *scopes, claims=claims, tenant_id=tenant_id, enable_cae=enable_cae, **kwargs
            )

    async def get_token_info(self, *scopes: str, options: TokenRequestOptions | None = None) -> AccessTokenInfo:
        async with self._one_at_a_time:
            await self._refresh_assertion()
            return await self._inner.get_token_info(*scopes, options=options)

    async def close(self) -> None:
        await self._inner.close()

    async def __aenter__(self) -> FederatedTenantCredential:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class TenantCredentials:
    """One :class:`FederatedTenantCredential` per tenant, built on first use, at most ``max_tenants``.

    Their token requests share one aiohttp session (azure-core's ``AioHttpTransport`` over a session
    it does not own, so closing one tenant's credential leaves it open): without it each credential
    opens its own session, connector and TLS connections — a thousand of them for a thousand tenants
    (bench/bench_tenants.py). A ``transport`` given in ``options`` is used as given instead."""

    def __init__(
        self,
        client_id: str,
        assertion_source: AsyncTokenCredential,
        *,
        max_tenants: int = DEFAULT_MAX_TENANTS,
        **options: Any,
    ) -> None:
        if max_tenants < 1:
            raise ValueError("max_tenants must be at least 1")
        self._client_id = client_id
        self._source = assertion_source
        self._options = options
        self._by_tenant: Lru[str, FederatedTenantCredential] = Lru(max_tenants)
        self._session: Any = None  # aiohttp.ClientSession, opened with the first credential

    def __len__(self) -> int:
        return len(self._by_tenant)

    async def for_tenant(self, tenant_id: str) -> FederatedTenantCredential:
        """The tenant's credential (the same object, and token cache, for every call as that tenant)."""
        key = tenant_guid(tenant_id)
        found = self._by_tenant.get(key)
        if found is not None:
            return found
        credential = FederatedTenantCredential(key, self._client_id, self._source, **self._transport_options())
        for oldest in self._by_tenant.put(key, credential):
            await oldest.close()
        return credential

    def _transport_options(self) -> dict[str, Any]:
        if "transport" in self._options:
            return self._options
        from azure.core.pipeline.transport import AioHttpTransport

        if self._session is None:
            import aiohttp

            from shared.clients.http_pools import environment_proxies_or_netrc

            # as AioHttpTransport would open its own: proxies from the environment (if it names any),
            # no cookies; at most TOKEN_CONNECTIONS connections (a TLS one holds a ~128 KB SSL buffer)
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=TOKEN_CONNECTIONS),
                trust_env=environment_proxies_or_netrc(),
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
            )
        return {**self._options, "transport": AioHttpTransport(session=self._session, session_owner=False)}

    async def aclose(self) -> None:
        for credential in self._by_tenant.drain():
            await credential.close()
        if self._session is not None:
            await self._session.close()
            self._session = None
