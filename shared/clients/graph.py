"""Microsoft Graph calls the remediator makes, over msgraph-sdk.

The base URL comes from settings (``GRAPH_BASE_URL``): public cloud by default, a national cloud or
the loopback simulator otherwise. Kiota's own retry middleware is turned off — it sleeps in-process
for any ``Retry-After`` under 180 s and misreads fractional values — and every call goes through
:func:`shared.core.retry.with_retry` instead: short waits honoured, long ones handed back to the caller.
msgraph-sdk is large (~0.3–1.2 s to import), so it is imported here, on first use, never at start-up.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urlsplit

from shared.clients.graph_objects import (
    Assignments,
    Grants,
    Owners,
    ServicePrincipals,
    deleted_at,
    guid_or_text,
    read_collection,
)
from shared.clients.http_pools import HttpPools
from shared.core.errors import TransientError, UpstreamError
from shared.core.retry import parse_retry_after, with_retry

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential

    from shared.core.settings import Settings

T = TypeVar("T")

REQUEST_TIMEOUT = 20.0
_TRANSIENT_STATUS = {408, 429, 500, 502, 503, 504}
AUDIT_PAGE_SIZE = 100
_QUERY_ORDER = ("count", "expand", "filter", "orderby", "search", "select", "skip", "top")
"""The OData options in the order of msgraph-sdk's URL templates (``{?%24count,%24expand,…}``)."""
_SP_FIELDS = ("id", "appId", "displayName", "accountEnabled", "notes", "appOwnerOrganizationId")
_DELTA_FIELDS = ("id", "appId", "accountEnabled")


@dataclass(frozen=True, slots=True)
class ServicePrincipal:
    id: str
    app_id: str
    display_name: str | None
    account_enabled: bool | None
    notes: str | None = None
    app_owner_organization_id: str | None = None
    """The tenant the app is registered in (``appOwnerOrganizationId``): this tenant for an app
    created here, the publisher's tenant for a multi-tenant app consented to from elsewhere."""


@dataclass(frozen=True, slots=True)
class GraphPage:
    """One page of a Graph collection as raw JSON (so the audit normalizers read it as-is), with
    the link to the next page or, at the end of a delta round, the delta link."""

    body: dict[str, Any]
    next_link: str | None
    delta_link: str | None

    @property
    def items(self) -> list[Any]:
        value = self.body.get("value")
        return value if isinstance(value, list) else []


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
        code = getattr(getattr(exc, "error", None), "code", None)
        answer = f"Graph answered {status}" + (f" ({str(code)[:80]})" if code else "")
        if status is None or status in _TRANSIENT_STATUS:
            return TransientError(answer, retry_after=retry_after)
        return UpstreamError(answer, status=status, tracking_id=request_id)
    if isinstance(exc, (httpx.TimeoutException, httpx.TransportError)):
        return TransientError(f"Graph unreachable: {type(exc).__name__}")
    if isinstance(exc, ValueError):  # malformed JSON in a 2xx answer
        return TransientError(f"Graph sent an unreadable answer: {type(exc).__name__}")
    return exc if isinstance(exc, Exception) else RuntimeError(str(exc))


GRAPH_POOL_CONNECTIONS = 16
"""Connections one Graph pool keeps, open and idle alike (:mod:`shared.clients.http_pools`: a pool's
CPU per request grows with its connections, so a pool is small and many tenants use several)."""


def graph_middleware() -> list[Any]:
    """The part of msgraph's default middleware whose work these calls need, in its order: the
    ``$`` of ``$filter``/``$select`` decoded in the URL (kiota's templates send ``%24``), kiota's
    User-Agent, and Graph's telemetry headers (``client-request-id``, which Microsoft support asks
    for, and the SDK version). Left out, each a frame every request and every resumption of it passes
    through: the retry handler (off: :func:`shared.core.retry.with_retry` retries), the redirect
    handler (none of these calls is redirected; a 3xx is then an error, not followed), the ``/me``
    URL replacement (app-only tokens have no ``/me``) and the header and body inspection handlers
    (they act only when a request asks for them; none does)."""
    from kiota_http.middleware import ParametersNameDecodingHandler, UserAgentHandler
    from msgraph_core.middleware import GraphTelemetryHandler

    return [ParametersNameDecodingHandler(), UserAgentHandler(), GraphTelemetryHandler()]


def graph_http_client(*, connections: int = GRAPH_POOL_CONNECTIONS, verify: Any = True) -> Any:
    """The httpx client Graph calls go through: :func:`graph_middleware` (msgraph's middleware
    without kiota's retry and the handlers these calls never use), one connection pool of at most
    ``connections`` (all kept alive between requests). It can serve many tenants' Graph clients
    (provider mode): the bearer token is added to each request by that client's own authentication
    provider, not by the pool. ``verify``: an ``ssl.SSLContext`` shared by several pools (one CA
    bundle loaded, not one per pool), or ``True`` for httpx's own."""
    import httpx
    from msgraph_core import GraphClientFactory

    from shared.clients.http_pools import pool_limits

    timeout = httpx.Timeout(REQUEST_TIMEOUT, connect=5.0)
    client = httpx.AsyncClient(timeout=timeout, limits=pool_limits(connections), verify=verify)
    return GraphClientFactory.create_with_custom_middleware(graph_middleware(), client=client)


class GraphPools(HttpPools):
    """``shards`` Graph pools (:func:`graph_http_client`) for many tenants' Graph clients, handed out
    in turn as the clients are built (:class:`shared.clients.http_pools.HttpPools`)."""

    def __init__(self, shards: int, connections: int = GRAPH_POOL_CONNECTIONS) -> None:
        super().__init__(shards, partial(_graph_pool, connections))


def _graph_pool(connections: int, tls: Any) -> Any:
    return graph_http_client(connections=connections, verify=tls)


def build_graph_client(settings: Settings, credential: AsyncTokenCredential, http: Any = None) -> Any:
    """A ``GraphServiceClient`` bound to ``settings.graph_base_url`` with retries off, on ``http``
    (from :func:`graph_http_client`; a new one when not given — then the client owns it)."""
    from kiota_authentication_azure.azure_identity_authentication_provider import (
        AzureIdentityAuthenticationProvider,
    )
    from msgraph.graph_request_adapter import GraphRequestAdapter
    from msgraph.graph_service_client import GraphServiceClient

    host = urlsplit(settings.graph_base_url).hostname or ""
    auth = AzureIdentityAuthenticationProvider(credential, scopes=[settings.graph_scope], allowed_hosts=[host])
    adapter = GraphRequestAdapter(auth, client=http if http is not None else graph_http_client())
    adapter.base_url = settings.graph_base_url
    return GraphServiceClient(request_adapter=adapter)


async def _models_on_the_loop() -> None:
    """No warm-up: msgraph's model registry loads where a model is first used."""


class Graph:
    """The handful of Graph operations the remediator needs, returning plain dataclasses.

    ``load_models`` is awaited before the two calls that still read or write kiota models (restore,
    notes): the composition root passes the warm-up that loads msgraph's model registry off the event
    loop (:mod:`shared.app.warmup`, tier ``models``); the client itself knows nothing of it."""

    def __init__(self, client: Any, *, load_models: Callable[[], Awaitable[None]] = _models_on_the_loop) -> None:
        self.client = client
        self._load_models = load_models

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
        return await self._service_principals(f"appId eq '{_guid(app_id)}'")

    async def service_principals_by_display_name(self, name: str) -> list[ServicePrincipal]:
        """``displayName eq '…'`` (Graph compares case-insensitively); the caller still keeps only
        exact matches. Used only to find the per-tenant Identity app when its appId is unknown."""
        if not name.strip() or len(name) > 256:
            raise ValueError("display name must be 1-256 characters")
        return await self._service_principals("displayName eq '{}'".format(name.replace("'", "''")))

    async def _service_principals(self, flt: str) -> list[ServicePrincipal]:
        url = self._url("/servicePrincipals", filter=flt, select=_SP_FIELDS)
        builder = self.client.service_principals.with_url(url)
        result = await self._get(builder.to_get_request_information, _service_principals)
        return [
            ServicePrincipal(
                id=sp.id,
                app_id=sp.app_id,
                display_name=sp.display_name,
                account_enabled=sp.account_enabled,
                notes=sp.notes,
                app_owner_organization_id=sp.app_owner_organization_id or None,
            )
            for sp in result.value
            if sp.id and sp.app_id
        ]

    async def service_principal_owner_app_ids(self, sp_id: str) -> tuple[list[str], int]:
        """``GET /servicePrincipals/{id}/owners``: the appIds of the service principals among the
        owners (lower-case), and how many owners are something else (users). Application.Read.All."""
        url = self._url(f"/servicePrincipals/{_object_id(sp_id)}/owners")
        builder = self.client.service_principals.with_url(url)
        result = await self._get(builder.to_get_request_information, _owners)
        app_ids: list[str] = []
        others = 0
        for owner in result.value:
            app_id = owner.app_id
            if app_id:
                app_ids.append(app_id.lower())
            else:
                others += 1
        return app_ids, others

    async def deleted_service_principals(self, app_id: str) -> list[DeletedServicePrincipal]:
        """The recycle bin (restorable for 30 days): tells a soft delete from a hard one."""
        url = self._url("/directory/deletedItems/graph.servicePrincipal", filter=f"appId eq '{_guid(app_id)}'")
        builder = self.client.directory.deleted_items.graph_service_principal.with_url(url)
        result = await self._get(builder.to_get_request_information, _service_principals)
        return [
            DeletedServicePrincipal(
                id=sp.id,
                app_id=sp.app_id,
                display_name=sp.display_name,
                deleted_at=deleted_at(sp.deleted_date_time),
            )
            for sp in result.value
            if sp.id
        ]

    async def _get(self, build: Callable[[], Any], read: Callable[[bytes], T]) -> T:
        """GET a request built by ``build()`` and ``read`` the raw body. Raw, not kiota models:
        ``@removed`` and the audit records' nested JSON must reach our own readers untouched.
        Reading happens inside the retried call: an unreadable 2xx body is transient."""
        from msgraph.generated.models.o_data_errors.o_data_error import ODataError

        adapter = self.client.request_adapter

        async def call() -> T:
            raw = await adapter.send_primitive_async(build(), "bytes", {"XXX": ODataError})
            return read(raw or b"{}")

        return await self._call(call)

    async def _get_page(self, build: Callable[[], Any]) -> GraphPage:
        return await self._get(build, _graph_page)

    def _checked_link(self, link: str) -> str:
        """Follow only links to the Graph host in use: a link is data from an answer."""
        base = urlsplit(self.client.request_adapter.base_url)
        target = urlsplit(link)
        if (target.scheme, target.netloc.lower()) != (base.scheme, base.netloc.lower()):
            raise UpstreamError("Graph returned a paging link to another host")
        return link

    def _url(self, path: str, **query: str | tuple[str, ...] | None) -> str:
        """The request's URL, built once: what msgraph-sdk's URL template gives for ``path`` and
        these OData options (``filter``, ``orderby``, ``select``, ``top``; in the template's order,
        names as ``%24name``, each value percent-encoded but for ``-._~``, a tuple's items joined by
        ``,``), without expanding the template per request — stduritemplate quotes a value one
        character at a time, ~150 ``quote`` calls a request. A value that cannot be encoded (a lone
        surrogate) raises :class:`ValueError` here, before any request."""
        pairs = []
        for name in _QUERY_ORDER:
            value = query.pop(name, None)
            if value:
                items = value if isinstance(value, tuple) else (value,)
                pairs.append(f"%24{name}=" + ",".join(quote(item, safe="") for item in items))
        if query:
            raise ValueError(f"unknown OData options: {sorted(query)}")
        return f"{self.client.request_adapter.base_url}{path}" + (f"?{'&'.join(pairs)}" if pairs else "")

    async def service_principal_delta(self, *, ids: list[str] | None = None, link: str | None = None) -> GraphPage:
        """One page of ``servicePrincipals/delta``: a new round filtered to ``ids`` (the only
        ``$filter`` delta accepts: ``id eq …``), or the page at ``link`` (next or delta link).
        Deletions come back as ``{"id", "@removed": {"reason": "changed" | "deleted"}}``."""
        if link is not None:
            url = self._checked_link(link)
        else:
            flt = " or ".join(f"id eq '{_guid(i)}'" for i in ids or [])
            url = self._url("/servicePrincipals/delta()", filter=flt or None, select=_DELTA_FIELDS)
        builder = self.client.service_principals.delta.with_url(url)
        return await self._get_page(builder.to_get_request_information)

    async def directory_audits(
        self, read: Callable[[bytes], T], *, query_filter: str | None = None, link: str | None = None
    ) -> T:
        """One page of ``auditLogs/directoryAudits`` narrowed server-side by ``query_filter``
        (the caller's ``$filter``: :func:`shared.detect.audit_poll.directory_audit_filter`), oldest
        first (so a checkpoint can advance page by page), or the page at ``link`` (which carries the
        filter). ``read`` turns the answer's bytes into the caller's page, inside the retried call:
        a :class:`ValueError` or :class:`TransientError` from it means "ask again"."""
        if link is not None:
            url = self._checked_link(link)
        elif not query_filter:
            raise ValueError("directory_audits needs a $filter or a link")
        else:
            url = self._url("/auditLogs/directoryAudits", filter=query_filter, orderby=("activityDateTime asc",),
                            top=str(AUDIT_PAGE_SIZE))  # fmt: skip
        builder = self.client.audit_logs.directory_audits.with_url(url)
        return await self._get(builder.to_get_request_information, read)

    async def restore_deleted(self, object_id: str) -> str:
        """``POST /directory/deletedItems/{id}/restore``: ONE attempt, never retried here.

        A retry after a timeout or a 5xx could restore twice or race an admin; the caller records a
        claim on the incident before calling and treats any failure as "not restored" (the admins
        get the consent notice). Needs Application.ReadWrite.All. Returns the restored object id.
        """
        await self._load_models()  # the answer is a directoryObject: msgraph's model registry
        builder = self.client.directory.deleted_items.by_directory_object_id(_object_id(object_id)).restore
        try:
            restored = await builder.post()
        except Exception as exc:
            mapped = map_graph_error(exc)
            if mapped is exc:
                raise
            raise mapped from exc
        return str(getattr(restored, "id", None) or object_id)

    async def update_notes(self, object_id: str, notes: str) -> None:
        """``PATCH /servicePrincipals/{id}`` with ``notes`` only (idempotent, so retried)."""
        await self._load_models()  # serializing a servicePrincipal model: msgraph's model registry
        from msgraph.generated.models.service_principal import ServicePrincipal as GraphServicePrincipal

        body = GraphServicePrincipal(notes=notes)
        builder = self.client.service_principals.by_service_principal_id(_object_id(object_id))
        await self._call(lambda: builder.patch(body))

    async def permission_grants(self, client_sp_id: str) -> list[PermissionGrant]:
        """Delegated grants held by a service principal (object id): the admin consent Webex needs."""
        url = self._url("/oauth2PermissionGrants", filter=f"clientId eq '{_guid(client_sp_id)}'")
        builder = self.client.oauth2_permission_grants.with_url(url)
        result = await self._get(builder.to_get_request_information, _grants)
        return [
            PermissionGrant(id=g.id, consent_type=g.consent_type, scope=g.scope, resource_id=g.resource_id)
            for g in result.value
            if g.id
        ]

    async def app_role_assignments(self, sp_id: str) -> list[AppRoleAssignment]:
        """``GET /servicePrincipals/{id}/appRoleAssignments``: the application permissions granted
        TO the service principal (Application.Read.All is the documented least privilege)."""
        url = self._url(f"/servicePrincipals/{_object_id(sp_id)}/appRoleAssignments")
        builder = self.client.service_principals.with_url(url)
        result = await self._get(builder.to_get_request_information, _assignments)
        return [
            AppRoleAssignment(
                id=a.id,
                app_role_id=guid_or_text(a.app_role_id) if a.app_role_id else None,
                resource_id=guid_or_text(a.resource_id) if a.resource_id else None,
                resource_display_name=a.resource_display_name,
            )
            for a in result.value
            if a.id
        ]


@dataclass(frozen=True, slots=True)
class AppRoleAssignment:
    """An application permission held by a service principal (``appRoleId`` on ``resource``)."""

    id: str
    app_role_id: str | None
    resource_id: str | None
    resource_display_name: str | None


def _service_principals(raw: bytes) -> ServicePrincipals:
    return read_collection(raw, ServicePrincipals)


def _owners(raw: bytes) -> Owners:
    return read_collection(raw, Owners)


def _grants(raw: bytes) -> Grants:
    return read_collection(raw, Grants)


def _assignments(raw: bytes) -> Assignments:
    return read_collection(raw, Assignments)


def _graph_page(raw: bytes) -> GraphPage:
    import json

    body = json.loads(raw)  # ValueError → transient (map_graph_error)
    if not isinstance(body, dict):
        raise ValueError("Graph page is not a JSON object")
    nxt, delta = body.get("@odata.nextLink"), body.get("@odata.deltaLink")
    return GraphPage(body, nxt if isinstance(nxt, str) else None, delta if isinstance(delta, str) else None)


def _object_id(value: str) -> str:
    """Object ids go into a URL path: Graph's own ids only (GUIDs), never event text."""
    from shared.core.catalogue import is_guid

    if not is_guid(value):
        raise ValueError("object id must be a GUID")
    return value.lower()


@dataclass(frozen=True, slots=True)
class PermissionGrant:
    id: str
    consent_type: str | None
    scope: str | None
    resource_id: str | None


def _guid(value: str) -> str:
    """App ids go into an OData filter: only catalogue GUIDs are allowed there (no injection)."""
    from shared.core.catalogue import is_guid

    if not is_guid(value):
        raise ValueError("app id must be a GUID")
    return value.lower()
