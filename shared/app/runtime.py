"""The composition root: the clients one worker process reuses across invocations, created lazily
on first use, and the small dependency bundles the use cases take.

Creating a credential, an httpx pool or a Graph client per invocation wastes the connection pools
and the token cache; importing msgraph-sdk at start-up costs up to a second of cold start. So
:class:`Services` builds each on first use and keeps it for the life of the event loop. Nothing
below the triggers and the CLI takes a ``Services``: they call ``svc.pipeline_deps()``,
``svc.verification_deps()``… and hand the use case exactly the clients it uses.
"""

from __future__ import annotations

import asyncio
import os
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from shared.core.lru import Lru
from shared.core.settings import Settings, StorageConfig, get_settings, storage_config

if TYPE_CHECKING:
    import httpx
    from azure.core.credentials_async import AsyncTokenCredential

    from shared.app.health_check import HealthCheckDeps
    from shared.app.operational_notices import ConfigAnnouncements, OperationalSend
    from shared.app.pipeline import PipelineDeps
    from shared.app.poison import PoisonDeps
    from shared.app.push import PushDeps
    from shared.app.restore import RestoreDeps
    from shared.app.sweep import SweepDeps
    from shared.app.tenant_sweep import FanOutDeps, TenantSweepDeps
    from shared.app.verification import VerificationDeps
    from shared.checks.deps import CheckClients, WebexStatusMemory
    from shared.checks.report import HealthReport
    from shared.clients.checkpoints import Checkpoints
    from shared.clients.graph import Graph, GraphPools
    from shared.clients.http_pools import HttpPools
    from shared.clients.intake_queue import IntakeQueue
    from shared.clients.rate_budget import RateBudget
    from shared.clients.sweep_queue import SweepQueue
    from shared.clients.table import Table
    from shared.clients.tenant_credentials import FederatedTenantCredential, TenantCredentials
    from shared.clients.tenants import TenantStore
    from shared.clients.verify_queue import VerifyQueue
    from shared.clients.webex_auth import WebexAuth
    from shared.core.catalogue import WebexApp
    from shared.core.tenant import Tenant
    from shared.incidents.notices import NoticeDeps
    from shared.incidents.operational import OperationalDeps
    from shared.incidents.schedule import VerifyScheduler
    from shared.incidents.store import IncidentStore
    from shared.notify.view import NoticeTenant


HTTP_TIMEOUT = 15.0
"""Read/write timeout of the shared httpx client (Webex, Teams, webhook), in seconds."""

HTTP_CONNECTIONS = 32
"""Connections the shared httpx client (Webex, Teams, webhook) keeps, all of them alive between
requests: httpx's default (100, of which 20 kept alive) makes httpcore close an idle connection after
each request once more than 20 are open (encode/httpcore#1035; :mod:`shared.clients.http_pools`)."""

TENANT_HTTP_POOLS = 8
"""Pools the customer tenants' sweeps reach Webex through (provider mode; ``TenantServices.http``):
one shared client for 48 sweeps at once held ~30 connections and cost more CPU per Webex call than
the call itself (:mod:`shared.clients.http_pools`)."""

MAX_TENANT_GRAPHS = 64
"""Tenant Graph clients kept (provider mode): more than the sweeps one instance runs at once (host.json
``batchSize`` + ``newBatchThreshold``), far fewer than the tenants (bench/bench_tenants.py)."""

TENANT_GRAPH_POOLS = 16
"""Graph pools the tenants' Graph clients are spread over (:class:`shared.clients.graph.GraphPools`):
host.json lets 48 sweeps run at once, ~2 Graph requests each: ~6 in flight per pool (of 16). With 96
requests in flight, 16 pools cost ~2.3 ms of CPU per request, 8 pools ~3.2 ms, one pool ~14.8 ms
(bench/bench_graph_requests.py)."""


class Services:
    """Settings plus lazily created clients. ``worker_id`` tags delivery claims."""

    def __init__(self, settings: Settings, storage: StorageConfig) -> None:
        from shared.core.logsafety import install

        install()  # before any client exists: URLs with secrets in their query never reach a log line
        _remember_secrets(settings)
        self.settings = settings
        self.storage = storage
        self.worker_id = f"{os.getpid()}-{id(self):x}"
        self._credential: AsyncTokenCredential | None = None
        self._graph: Graph | None = None
        self._http: httpx.AsyncClient | None = None
        self._table: Table | None = None
        self._store: IncidentStore | None = None
        self._queue: VerifyQueue | None = None
        self._intake: IntakeQueue | None = None
        self._sweep_queue: SweepQueue | None = None
        self._checkpoints: Checkpoints | None = None
        self._rate_budget: RateBudget | None = None
        self._webex_auth: WebexAuth | None = None
        self._tenant_credentials: TenantCredentials | None = None
        from shared.clients.tenant_credentials import DEFAULT_MAX_TENANTS

        self._tenant_graphs: Lru[str, tuple[Graph, FederatedTenantCredential]] = Lru(DEFAULT_MAX_TENANTS)
        self._tenant_pools: GraphPools | None = None  # a few small pools for every tenant's Graph client
        self._tenant_https: HttpPools | None = None  # and for every tenant's Webex calls
        self._tenant_store: TenantStore | None = None
        self._tenant_webex: Lru[str, WebexAuth] = Lru(DEFAULT_MAX_TENANTS)  # service-app tenants' token holders
        self._vault: Any = None  # one Key Vault client for every tenant's Webex secret
        self._ready = False
        self._lock = asyncio.Lock()
        from shared.app.operational_notices import ConfigAnnouncements
        from shared.checks.deps import WebexStatusMemory

        self.webex_status = WebexStatusMemory()  # what this process learned about the status call
        self.config_announcements = ConfigAnnouncements()  # which configuration problems it told
        self.tenant_domain: str | None = None  # TENANT_ID as configured, when it was a domain
        self._tenant_memory: dict[str, tuple[WebexStatusMemory, ConfigAnnouncements]] = {}

    @property
    def tenant_guid(self) -> str | None:
        """The tenant's GUID (lower-case): ``TENANT_ID`` itself, or the GUID its domain resolved to
        at start-up (:func:`shared.tenant.resolve_tenant`); ``None`` if neither is known."""
        from shared.core.catalogue import is_guid

        tenant = self.settings.tenant_id
        return tenant.lower() if is_guid(tenant) else None

    async def resolve_tenant(self) -> Services:
        """A ``TENANT_ID`` given as a domain becomes its GUID (:mod:`shared.clients.tenant_id`) before any
        record is compared with it; ConfigError when the domain does not resolve."""
        from shared.core.catalogue import is_guid

        if not is_guid(self.settings.tenant_id):
            from shared.clients.tenant_id import resolve_tenant

            self.tenant_domain = self.settings.tenant_id
            self.settings = await resolve_tenant(self.settings, await self.http())
        return self

    async def ready(self) -> Services:
        """Create the table and queue once per process (cheap if they exist)."""
        if not self._ready:
            async with self._lock:
                if not self._ready:
                    await self.store().ensure_table()
                    await self.queue().ensure_queue()
                    self._ready = True
        return self

    def credential(self) -> AsyncTokenCredential:
        if self._credential is None:
            from shared.clients.credentials import make_credential

            self._credential = make_credential()
        return self._credential

    async def graph(self) -> Graph:
        if self._graph is None:
            from shared.app.warmup import warm
            from shared.clients.graph import Graph, build_graph_client

            client = build_graph_client(self.settings, self.credential())
            self._graph = Graph(client, load_models=partial(warm, "models"))  # restore, notes: off the loop
        return self._graph

    def tenant_store(self) -> TenantStore:
        """The tenants table (``TENANTS_TABLE``, provider mode), on its own table client — one per
        process, like the others: a sweep message per tenant must not open (and leak) a client each."""
        if self._tenant_store is None:
            from shared.clients.storage import table_client
            from shared.clients.table import Table
            from shared.clients.tenants import TenantStore

            self._tenant_store = TenantStore(Table(table_client(self.storage, self.settings.tenants_table)))
        return self._tenant_store

    def tenant_credentials(self) -> TenantCredentials:
        """Per customer tenant: the provider app's token, asserted by this process's managed identity."""
        if self._tenant_credentials is None:
            from shared.clients.tenant_credentials import TenantCredentials
            from shared.core.errors import ConfigError

            if self.settings.provider_app_client_id is None:
                raise ConfigError(["PROVIDER_APP_CLIENT_ID: required to reach a customer tenant"])
            from shared.clients.tenant_credentials import cloud_options

            options = cloud_options(self.settings, os.environ)  # the sovereign cloud's audience and authority
            self._tenant_credentials = TenantCredentials(self.settings.provider_app_client_id, self.credential(),
                                                         **options)  # fmt: skip
        return self._tenant_credentials

    async def tenant_graph(self, tenant_id: str) -> Graph:
        """A Graph client acting as ``tenant_id`` through the provider's app. The tenants' clients
        share :data:`TENANT_GRAPH_POOLS` small httpx pools (:class:`shared.clients.graph.GraphPools`),
        taken in turn; only the credential (and its token cache) is the tenant's. At most
        :data:`MAX_TENANT_GRAPHS` clients are kept (least recently used dropped): building one is
        cheap, the token cache is the credential's."""
        from shared.core.tenant import tenant_guid

        key = tenant_guid(tenant_id)
        credential = await self.tenant_credentials().for_tenant(key)  # may close the least recent one
        held = self._tenant_graphs.get(key)
        if held is not None and held[1] is credential:
            graph = held[0]
        else:  # new, or its credential was evicted and closed: a new client on the new one
            from shared.app.warmup import warm
            from shared.clients.graph import Graph, GraphPools, build_graph_client

            if self._tenant_pools is None:
                self._tenant_pools = GraphPools(TENANT_GRAPH_POOLS)
            client = build_graph_client(self.settings, credential, http=self._tenant_pools.next())
            graph = Graph(client, load_models=partial(warm, "models"))
        # no more clients than credentials; the ones dropped need no closing: the pool is shared
        self._tenant_graphs.put(key, (graph, credential), limit=min(len(self.tenant_credentials()), MAX_TENANT_GRAPHS))
        return graph

    def for_tenant(self, tenant: Tenant) -> TenantServices:
        """This composition root as one customer tenant sees it (provider mode): every ``*_deps()``
        of the result acts as ``tenant`` (:class:`TenantServices`). Cheap: the process's clients are
        shared; what a tenant's runs learn (status memory, announcements) is kept per tenant."""
        return TenantServices(self, tenant)

    async def scope_for(self, tenant_id: str) -> Services | None:
        """This root as the tenant a message names sees it: itself in single-tenant mode and for the
        deployment's own tenant; in provider mode the tenant's :class:`TenantServices`, or ``None``
        when the tenant is not watched (removed or disabled since, or its row does not read)."""
        from shared.core.tenant import TenantError

        own = self.settings.tenant_id.lower()
        if self.settings.tenancy_mode != "provider" or tenant_id.lower() in (own, (self.tenant_guid or own)):
            return self
        try:
            tenant = await self.tenant_store().get(tenant_id)
        except TenantError:
            return None
        return self.for_tenant(tenant) if tenant is not None and tenant.enabled else None

    async def tenant_check_clients(self, tenant: Tenant) -> CheckClients:
        """What the checks use, as ``tenant`` (``check --tenant`` / ``--all``)."""
        return await self.for_tenant(tenant).check_clients()

    async def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = plain_http_client(HTTP_CONNECTIONS, True)
        return self._http

    def tenant_http(self) -> httpx.AsyncClient:
        """One of the :data:`TENANT_HTTP_POOLS` httpx clients a customer tenant's sweep reaches Webex
        through, in turn (:mod:`shared.clients.http_pools`)."""
        if self._tenant_https is None:
            from shared.clients.http_pools import HttpPools

            self._tenant_https = HttpPools(TENANT_HTTP_POOLS, partial(plain_http_client, 16))
        client: httpx.AsyncClient = self._tenant_https.next()
        return client

    async def webex_auth(self) -> WebexAuth:
        """The process's Webex token holder (its cache must outlive one invocation)."""
        if self._webex_auth is None:
            from shared.clients.webex_auth import build_auth

            credential = self.credential() if self.settings.webex_key_vault_url else None
            self._webex_auth = build_auth(self.settings, self.storage, await self.http(), credential)
        return self._webex_auth

    async def tenant_webex_auth(self, tenant: Tenant, settings: Settings) -> WebexAuth:
        """A ``service_app`` tenant's own Webex token holder (its refresh token in Key Vault under a
        name derived from its id), kept per tenant — its token cache must outlive one sweep — and
        bounded like the tenant credentials (the least recently used is closed first)."""
        from shared.clients.webex_auth import build_tenant_auth, vault_client

        held = self._tenant_webex.get(tenant.tenant_id)
        if held is None:
            if self._vault is None and settings.webex_key_vault_url:
                self._vault = vault_client(settings.webex_key_vault_url, self.credential())
            held = build_tenant_auth(settings, await self.http(), self._vault, tenant.tenant_id)
            for oldest in self._tenant_webex.put(tenant.tenant_id, held):
                await oldest.aclose()
        return held

    def table(self) -> Table:
        """The incidents table: incidents, deliveries, leases, cursors and markers share it."""
        if self._table is None:
            from shared.clients.storage import table_client
            from shared.clients.table import Table

            self._table = Table(table_client(self.storage, self.settings.incidents_table))
        return self._table

    def store(self) -> IncidentStore:
        if self._store is None:
            from shared.incidents.store import IncidentStore

            self._store = IncidentStore(self.table())
        return self._store

    def queue(self) -> VerifyQueue:
        if self._queue is None:
            from shared.clients.storage import queue_client
            from shared.clients.verify_queue import VerifyQueue

            self._queue = VerifyQueue(queue_client(self.storage))
        return self._queue

    def intake(self) -> IntakeQueue:
        """The intake queue. Short SDK retries (1 s, 2 s): the push triggers answer within
        seconds, and a failed write is retried by Event Grid or the action group anyway."""
        if self._intake is None:
            from shared.clients.intake_queue import IntakeQueue
            from shared.clients.storage import queue_client
            from shared.core.settings import INTAKE_QUEUE

            self._intake = IntakeQueue(queue_client(self.storage, INTAKE_QUEUE))  # bounded retry: clients.storage
        return self._intake

    def checkpoints(self) -> Checkpoints:
        if self._checkpoints is None:
            from shared.clients.checkpoints import Checkpoints

            self._checkpoints = Checkpoints(self.table(), self.settings.tenant_id)
        return self._checkpoints

    def sweep_queue(self) -> SweepQueue:
        """The ``webex-tenant-sweep`` queue (provider mode's fan-out)."""
        if self._sweep_queue is None:
            from shared.clients.storage import queue_client
            from shared.clients.sweep_queue import SweepQueue
            from shared.core.names import SWEEP_QUEUE

            self._sweep_queue = SweepQueue(queue_client(self.storage, SWEEP_QUEUE))
        return self._sweep_queue

    def rate_budget(self) -> RateBudget:
        """The audit-read budget every instance shares (rows in the incidents table); one per
        process, so this process's takes wait for each other instead of racing for the row."""
        if self._rate_budget is None:
            from shared.clients.rate_budget import RateBudget

            self._rate_budget = RateBudget(self.table())
        return self._rate_budget

    async def channels(self) -> list[Any]:
        """The configured channels (:func:`shared.notify.channels.build_channels`, the one rule), sharing
        the process's clients; the Graph client is built only when e-mail is on."""
        from shared.notify.channels import build_channels

        s = self.settings
        graph = (await self.graph()).client if s.email_enabled else None
        return list(build_channels(s, graph=graph, http_client=await self.http()))

    # --- what each use case takes ------------------------------------------------------------------
    def notice_tenant(self) -> NoticeTenant | None:
        """The customer tenant notices are about (provider mode); ``None``: the deployment's own."""
        return None

    def notice_deps(self) -> NoticeDeps:
        from shared.incidents.notices import NoticeDeps

        return NoticeDeps(self.settings, self.store(), self.channels, self.notice_tenant())

    def operational_deps(self) -> OperationalDeps:
        from shared.incidents.operational import OperationalDeps

        return OperationalDeps(self.settings.tenant_id, self.table(), self.channels, self.notice_tenant())

    def scheduler(self) -> VerifyScheduler:
        from shared.incidents.schedule import VerifyScheduler

        return VerifyScheduler(self.store(), self.queue(), self.settings.verify_delays)

    async def _identity_app_id(self) -> str | None:
        """The Identity app's appId found by name (and the notices that lookup owes, sent)."""
        from shared.app.operational_notices import send_owed
        from shared.checks.identity_app import resolve_identity_app

        resolved = await resolve_identity_app(self.settings, await self.graph(), self.checkpoints())
        await send_owed(self.operational_sender(), resolved.owed)
        return resolved.app.app_id if resolved.app is not None else None

    def restore_deps(self) -> RestoreDeps:
        from shared.app.restore import RestoreDeps

        return RestoreDeps(self.settings, self.store(), self.graph, self._identity_app_id, self.notice_deps())

    def pipeline_deps(self) -> PipelineDeps:
        from shared.app.pipeline import PipelineDeps

        return PipelineDeps(
            self.settings, self.store(), self.scheduler(), self.checkpoints(), self.notice_deps(), self.restore_deps()
        )

    async def _run_checks(self, apps: tuple[WebexApp, ...] | None, since: datetime) -> HealthReport:
        """The checks of a verification run, then the operational notices they owe."""
        from shared.app.checking import CheckingDeps, check_and_notify

        checking = CheckingDeps(await self.check_clients(), self.operational_sender())
        return await check_and_notify(checking, apps, since=since)

    def verification_deps(self) -> VerificationDeps:
        from shared.app.verification import VerificationDeps

        return VerificationDeps(
            self.settings, self.store(), self.scheduler(), self.notice_deps(), self.restore_deps(), self._run_checks
        )

    def poison_deps(self) -> PoisonDeps:
        from shared.app.poison import PoisonDeps

        return PoisonDeps(self.settings, self.store(), self.scheduler(), self.operational_deps())

    def push_deps(self) -> PushDeps:
        from shared.app.push import PushDeps

        return PushDeps(
            self.settings, self.checkpoints(), self.credential, self.pipeline_deps(), self.operational_deps()
        )

    async def health_check_deps(self) -> HealthCheckDeps:
        from shared.app.health_check import HealthCheckDeps

        checks = await self.check_clients()
        return HealthCheckDeps(self.settings, checks, self.operational_sender(), self.config_announcements,
                               self.store(), self.pipeline_deps(), await self.graph())  # fmt: skip

    async def sweep_deps(self) -> SweepDeps:
        from shared.app.sweep import SweepDeps

        health = await self.health_check_deps()
        return SweepDeps(self.settings, self.checkpoints(), await self.graph(), self.pipeline_deps(), health,
                         self.worker_id)  # fmt: skip

    def fan_out_deps(self) -> FanOutDeps:
        """Provider mode's timer: the tenants, the sweep queue, the results, the provider's channels."""
        from shared.app.tenant_sweep import FanOutDeps
        from shared.clients.sweep_results import SweepResults

        return FanOutDeps(self.settings, self.checkpoints(), self.tenant_store(), self.sweep_queue(),
                          SweepResults(self.table()), self.operational_sender(), self.worker_id,
                          self.config_announcements)  # fmt: skip

    def tenant_sweep_deps(self) -> TenantSweepDeps:
        """Provider mode's queue trigger: each tenant's tick is built as that tenant."""
        from shared.app.tenant_sweep import TenantSweepDeps
        from shared.clients.sweep_results import SweepResults

        async def sweep_for(tenant: Tenant) -> SweepDeps:
            return await self.for_tenant(tenant).sweep_deps()

        def sender_for(tenant: Tenant) -> OperationalSend:
            return self.for_tenant(tenant).operational_sender()

        return TenantSweepDeps(self.tenant_store(), SweepResults(self.table()), sweep_for, sender_for)

    async def check_clients(self) -> CheckClients:
        """What the checks use (``shared.checks.deps``), from this process's clients."""
        from shared.checks.deps import CheckClients

        graph, http, auth = await self.graph(), await self.http(), await self.webex_auth()
        return CheckClients(self.settings, graph, http, auth, self.checkpoints(), self.webex_status)

    def operational_sender(self) -> OperationalSend:
        """``send_operational`` bound to this process's clients (``shared.app.operational_notices``)."""
        from functools import partial

        from shared.incidents.operational import send_operational

        return partial(send_operational, self.operational_deps())

    async def aclose(self) -> None:
        if self._webex_auth is not None:
            await self._webex_auth.aclose()
            self._webex_auth = None
        for auth in self._tenant_webex.drain():
            await auth.aclose()
        if self._vault is not None:
            await self._vault.close()
            self._vault = None
        if self._http is not None:
            await self._http.aclose()
        if self._table is not None:
            await self._table.close()
        if self._queue is not None:
            await self._queue.close()
        if self._intake is not None:
            await self._intake.close()
        if self._sweep_queue is not None:
            await self._sweep_queue.close()
            self._sweep_queue = None
        if self._graph is not None:
            http = getattr(getattr(self._graph.client, "request_adapter", None), "_http_client", None)
            if http is not None:
                await http.aclose()
        if self._tenant_store is not None:
            await self._tenant_store.close()
            self._tenant_store = None
        self._tenant_graphs.drain()
        if self._tenant_pools is not None:
            await self._tenant_pools.aclose()
            self._tenant_pools = None
        if self._tenant_https is not None:
            await self._tenant_https.aclose()
            self._tenant_https = None
        if self._tenant_credentials is not None:
            await self._tenant_credentials.aclose()
            self._tenant_credentials = None
        if self._credential is not None:
            await self._credential.close()
        self._http = self._store = self._queue = self._graph = self._credential = self._table = None
        self._intake = None
        self._checkpoints = self._rate_budget = None
        self._ready = False


class TenantServices(Services):
    """The composition root seen from one customer tenant (provider mode).

    It shares the process's clients — storage, queues, the httpx pool, the managed identity, the
    provider's own Graph client (the e-mail channel sends from the provider's mailbox) — and changes
    only what makes a run *this tenant's*: the settings (:func:`shared.core.tenant.tenant_settings`:
    its id, Webex org, contacts and channels), Graph as the tenant (the provider app's token for it),
    the state rows in the tenant's partition, and the memory of what the tenant's runs learned.
    Because every ``*_deps()`` builder of :class:`Services` reads only these, a use case built here
    cannot touch another tenant's rows or reach another tenant's contacts. It owns nothing:
    :meth:`aclose` leaves the shared clients to the process's root.
    """

    def __init__(self, root: Services, tenant: Tenant) -> None:  # no super().__init__: nothing of its own to open
        from shared.app.operational_notices import ConfigAnnouncements
        from shared.checks.deps import WebexStatusMemory
        from shared.core.tenant import tenant_settings

        self.root, self.tenant = root, tenant
        self.settings = tenant_settings(root.settings, tenant)
        self.storage = root.storage
        self.worker_id = root.worker_id
        self.tenant_domain = None
        self._checkpoints = None
        self._http = None
        memory = root._tenant_memory.get(tenant.tenant_id)
        if memory is None:
            memory = root._tenant_memory[tenant.tenant_id] = (WebexStatusMemory(), ConfigAnnouncements())
        self.webex_status, self.config_announcements = memory

    @property
    def tenant_guid(self) -> str | None:
        return self.tenant.tenant_id

    def notice_tenant(self) -> NoticeTenant | None:
        from shared.notify.view import NoticeTenant

        t = self.tenant
        return NoticeTenant(t.tenant_id, t.display_name, self.settings.webex_org_id)

    async def resolve_tenant(self) -> Services:
        return self

    async def ready(self) -> Services:
        await self.root.ready()
        return self

    def credential(self) -> AsyncTokenCredential:
        return self.root.credential()

    async def graph(self) -> Graph:
        """Graph as the tenant: the provider's multi-tenant app, token for this tenant."""
        return await self.root.tenant_graph(self.tenant.tenant_id)

    def tenant_store(self) -> TenantStore:
        return self.root.tenant_store()

    def tenant_credentials(self) -> TenantCredentials:
        return self.root.tenant_credentials()

    async def tenant_graph(self, tenant_id: str) -> Graph:
        return await self.root.tenant_graph(tenant_id)

    def for_tenant(self, tenant: Tenant) -> TenantServices:
        return self.root.for_tenant(tenant)

    async def http(self) -> httpx.AsyncClient:
        """One of the root's small pools for the tenants (:meth:`Services.tenant_http`), the same for
        every call of this run: Webex and the checks' HTTP calls as this tenant."""
        if self._http is None:
            self._http = self.root.tenant_http()
        return self._http

    async def webex_auth(self) -> WebexAuth:
        """The tenant's Webex credential: its own service app's (``webex_auth = service_app``), else
        the deployment's — a partner administrator's token reaching the customer org (docs/tenants.md)."""
        if self.tenant.webex_auth == "service_app":
            return await self.root.tenant_webex_auth(self.tenant, self.settings)
        return await self.root.webex_auth()

    def table(self) -> Table:
        return self.root.table()

    def rate_budget(self) -> RateBudget:
        return self.root.rate_budget()

    def store(self) -> IncidentStore:
        return self.root.store()

    def queue(self) -> VerifyQueue:
        return self.root.queue()

    def intake(self) -> IntakeQueue:
        return self.root.intake()

    def checkpoints(self) -> Checkpoints:
        """Cursors, leases and markers in the tenant's partition of the shared table. A
        ``TenantServices`` serves one invocation (a sweep message, a verification), so its rows are
        loaded once and remembered for it (``remember``: one query instead of a read per use)."""
        if self._checkpoints is None:
            from shared.clients.checkpoints import Checkpoints

            self._checkpoints = Checkpoints(self.root.table(), self.tenant.tenant_id, remember=True)
        return self._checkpoints

    async def sweep_deps(self) -> SweepDeps:
        """The tick as this tenant, its audit reads gated by the shared budget and its cadence."""
        from dataclasses import replace
        from datetime import timedelta

        from shared.app.audit_cadence import AuditGate

        gate = AuditGate(self.rate_budget(), self.tenant.tenant_id,
                         timedelta(minutes=self.settings.audit_cadence_minutes))  # fmt: skip
        deps = await super().sweep_deps()
        return replace(deps, health=replace(deps.health, announce_config=False), audit_gate=gate)

    async def channels(self) -> list[Any]:
        """The tenant's channels; e-mail goes out from the provider's mailbox (its own Graph client)."""
        from shared.notify.channels import build_channels

        s = self.settings
        graph = (await self.root.graph()).client if s.email_enabled else None
        return list(build_channels(s, graph=graph, http_client=await self.root.http()))

    async def aclose(self) -> None:
        """Nothing to close: the clients belong to the process's root."""


def plain_http_client(connections: int, verify: Any) -> httpx.AsyncClient:
    """An httpx client (Webex, Teams, webhook) of ``connections`` kept alive (``verify``: a shared
    ``ssl.SSLContext``, or ``True``), redirects not followed."""
    import httpx

    from shared.clients.http_pools import pool_limits

    timeout = httpx.Timeout(HTTP_TIMEOUT, connect=5.0)
    return httpx.AsyncClient(timeout=timeout, limits=pool_limits(connections), verify=verify, follow_redirects=False)


def _remember_secrets(settings: Settings) -> None:
    """The configured secrets are redacted wherever upstream text is shown (shared.core.redaction)."""
    from shared.core.redaction import remember_secret

    for secret in (settings.webex_client_secret, settings.webex_refresh_token, settings.webex_access_token,
                   settings.webex_bot_token, settings.notify_webhook_secret, settings.action_link_key,
                   settings.action_link_key_previous):  # fmt: skip
        if secret is not None:
            remember_secret(secret.get_secret_value())


_services: dict[int, Services] = {}


async def get_services(*, ready: bool = True) -> Services:
    """The process-wide :class:`Services` of the running event loop, ready for use.

    ``ready=False`` skips creating the table and the verification queue: the push triggers only
    write to the intake queue and must not touch Table storage before they answer."""
    loop_id = id(asyncio.get_running_loop())
    svc = _services.get(loop_id)
    if svc is None:
        svc = Services(get_settings(), storage_config())
        await svc.resolve_tenant()  # before it is shared: every caller sees the tenant GUID
        _services[loop_id] = svc
    return await svc.ready() if ready else svc


async def reset_services() -> None:
    """Close and forget the cached services (tests switch settings between cases)."""
    for svc in list(_services.values()):
        await svc.aclose()
    _services.clear()
