"""Microsoft Graph calls the remediator makes, over msgraph-sdk.

The base URL comes from settings (``GRAPH_BASE_URL``): public cloud by default, a national cloud or
the loopback simulator otherwise. Kiota's own retry middleware is turned off — it sleeps in-process
for any ``Retry-After`` under 180 s and misreads fractional values — and every call goes through
:func:`shared.retry.with_retry` instead: short waits honoured, long ones handed back to the caller.
msgraph-sdk is large (~0.3–1.2 s to import), so it is imported here, on first use, never at start-up.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from shared.errors import TransientError, UpstreamError
from shared.retry import parse_retry_after, with_retry

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential

    from shared.config import Settings

T = TypeVar("T")

REQUEST_TIMEOUT = 20.0
_TRANSIENT_STATUS = {408, 429, 500, 502, 503, 504}


@dataclass(frozen=True, slots=True)
class ServicePrincipal:
    id: str
    app_id: str
    display_name: str | None
    account_enabled: bool | None


@dataclass(frozen=True, slots=True)
class DeletedServicePrincipal:
    id: str
    app_id: str | None
    display_name: str | None
    deleted_at: datetime | None


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    try:
        items = headers.items()
    except AttributeError:
        return None
    for key, value in items:
        if str(key).lower() == name:
            if isinstance(value, (list, set, tuple)):
                return next(iter(value), None)
            return str(value)
    return None


def map_graph_error(exc: BaseException) -> Exception:
    """Kiota/httpx failures → the project's typed errors (transient: retry; upstream: don't)."""
    import httpx
    from kiota_abstractions.api_error import APIError

    if isinstance(exc, APIError):
        status = exc.response_status_code
        retry_after = parse_retry_after(_header(exc.response_headers, "retry-after"))
        request_id = _header(exc.response_headers, "request-id")
        if status is None or status in _TRANSIENT_STATUS:
            return TransientError(f"Graph answered {status}", retry_after=retry_after)
        return UpstreamError(f"Graph answered {status}", status=status, tracking_id=request_id)
    if isinstance(exc, (httpx.TimeoutException, httpx.TransportError)):
        return TransientError(f"Graph unreachable: {type(exc).__name__}")
    if isinstance(exc, ValueError):  # malformed JSON in a 2xx answer
        return TransientError(f"Graph sent an unreadable answer: {type(exc).__name__}")
    return exc if isinstance(exc, Exception) else RuntimeError(str(exc))


def build_graph_client(settings: Settings, credential: AsyncTokenCredential) -> Any:
    """A ``GraphServiceClient`` bound to ``settings.graph_base_url`` with retries off."""
    import httpx
    from kiota_authentication_azure.azure_identity_authentication_provider import (
        AzureIdentityAuthenticationProvider,
    )
    from kiota_http.middleware.options import RetryHandlerOption
    from msgraph.graph_request_adapter import GraphRequestAdapter
    from msgraph.graph_service_client import GraphServiceClient
    from msgraph_core import GraphClientFactory

    host = urlsplit(settings.graph_base_url).hostname or ""
    auth = AzureIdentityAuthenticationProvider(credential, scopes=[settings.graph_scope], allowed_hosts=[host])
    options = {RetryHandlerOption.get_key(): RetryHandlerOption(max_retries=0, should_retry=False)}
    http = GraphClientFactory.create_with_default_middleware(
        client=httpx.AsyncClient(timeout=httpx.Timeout(REQUEST_TIMEOUT, connect=5.0)), options=options
    )
    adapter = GraphRequestAdapter(auth, client=http)
    adapter.base_url = settings.graph_base_url
    return GraphServiceClient(request_adapter=adapter)


class Graph:
    """The handful of Graph operations the remediator needs, returning plain dataclasses."""

    def __init__(self, client: Any) -> None:
        self.client = client

    async def _call(self, call: Callable[[], Awaitable[T]]) -> T:
        async def once() -> T:
            try:
                return await call()
            except Exception as exc:
                mapped = map_graph_error(exc)
                if mapped is exc:
                    raise
                raise mapped from exc

        return await with_retry(once)

    async def service_principals_by_app_id(self, app_id: str) -> list[ServicePrincipal]:
        """Presence is checked by appId: consent re-creates the SP under a new object id."""
        from kiota_abstractions.base_request_configuration import RequestConfiguration
        from msgraph.generated.service_principals.service_principals_request_builder import (
            ServicePrincipalsRequestBuilder,
        )

        params = ServicePrincipalsRequestBuilder.ServicePrincipalsRequestBuilderGetQueryParameters(
            filter=f"appId eq '{_guid(app_id)}'", select=["id", "appId", "displayName", "accountEnabled"]
        )
        config = RequestConfiguration(query_parameters=params)
        result = await self._call(lambda: self.client.service_principals.get(request_configuration=config))
        return [
            ServicePrincipal(
                id=str(sp.id), app_id=str(sp.app_id), display_name=sp.display_name, account_enabled=sp.account_enabled
            )
            for sp in (getattr(result, "value", None) or [])
            if sp.id and sp.app_id
        ]

    async def deleted_service_principals(self, app_id: str) -> list[DeletedServicePrincipal]:
        """The recycle bin (restorable for 30 days): tells a soft delete from a hard one."""
        from kiota_abstractions.base_request_configuration import RequestConfiguration
        from msgraph.generated.directory.deleted_items.graph_service_principal.graph_service_principal_request_builder import (  # noqa: E501
            GraphServicePrincipalRequestBuilder,
        )

        params = GraphServicePrincipalRequestBuilder.GraphServicePrincipalRequestBuilderGetQueryParameters(
            filter=f"appId eq '{_guid(app_id)}'"
        )
        config = RequestConfiguration(query_parameters=params)
        builder = self.client.directory.deleted_items.graph_service_principal
        result = await self._call(lambda: builder.get(request_configuration=config))
        return [
            DeletedServicePrincipal(
                id=str(sp.id), app_id=sp.app_id, display_name=sp.display_name, deleted_at=sp.deleted_date_time
            )
            for sp in (getattr(result, "value", None) or [])
            if sp.id
        ]

    async def permission_grants(self, client_sp_id: str) -> list[PermissionGrant]:
        """Delegated grants held by a service principal (object id): the admin consent Webex needs."""
        from kiota_abstractions.base_request_configuration import RequestConfiguration
        from msgraph.generated.oauth2_permission_grants.oauth2_permission_grants_request_builder import (
            Oauth2PermissionGrantsRequestBuilder,
        )

        params = Oauth2PermissionGrantsRequestBuilder.Oauth2PermissionGrantsRequestBuilderGetQueryParameters(
            filter=f"clientId eq '{_guid(client_sp_id)}'"
        )
        config = RequestConfiguration(query_parameters=params)
        result = await self._call(lambda: self.client.oauth2_permission_grants.get(request_configuration=config))
        return [
            PermissionGrant(id=str(g.id), consent_type=g.consent_type, scope=g.scope, resource_id=g.resource_id)
            for g in (getattr(result, "value", None) or [])
            if g.id
        ]


@dataclass(frozen=True, slots=True)
class PermissionGrant:
    id: str
    consent_type: str | None
    scope: str | None
    resource_id: str | None


def _guid(value: str) -> str:
    """App ids go into an OData filter: only catalogue GUIDs are allowed there (no injection)."""
    from shared.catalogue import is_guid

    if not is_guid(value):
        raise ValueError("app id must be a GUID")
    return value.lower()
