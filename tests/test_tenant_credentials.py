"""Per-tenant credentials without a secret (shared/clients/tenant_credentials.py), against the
simulator's token endpoint: the assertion sent is the managed identity's token for
``api://AzureADTokenExchange/.default``, the token URL names the customer's tenant, and N calls as
one tenant make one token request to that tenant (its token is cached per tenant)."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from shared.clients.credentials import make_credential
from shared.clients.tenant_credentials import EXCHANGE_SCOPE, TOKEN_CONNECTIONS, TenantCredentials

PROVIDER_APP = "5b0c7e4e-2f1d-4c1a-9a51-7d2f3b8c9e01"


def _token_body(tenant: str) -> dict[str, Any]:
    return {"token_type": "Bearer", "expires_in": 3600, "ext_expires_in": 3600, "access_token": f"at-{tenant}"}


async def _answer_as(sim: Any, tenant: str) -> None:
    """The simulator knows one tenant; a customer tenant's token request is answered by a fault."""
    await sim.add_fault(f"^/{tenant}/oauth2/v2\\.0/token$", method="POST", status=200, body=_token_body(tenant),
                        times=None)  # fmt: skip


async def test_assertion_is_the_managed_identity_token_and_the_url_names_the_customer(sim: Any) -> None:
    customers = [str(uuid.uuid4()), str(uuid.uuid4()).upper()]
    for tenant in customers:
        await _answer_as(sim, tenant.lower())
    sent: list[tuple[str, dict[str, str]]] = []

    def capture(request: Any) -> None:
        http = request.http_request
        data = http.data if isinstance(http.data, dict) else None
        body = http.body.decode() if isinstance(http.body, bytes) else str(http.body or "")
        sent.append((http.url, {str(k): str(v) for k, v in data.items()} if data else dict(parse_qsl(body))))

    mi = make_credential()
    creds = TenantCredentials(PROVIDER_APP, mi, raw_request_hook=capture)
    try:
        mi_token = (await mi.get_token(EXCHANGE_SCOPE)).token
        for tenant in customers:
            for _ in range(5):  # each call looks its tenant's credential up again, as a use case does
                cred = await creds.for_tenant(tenant)
                token = await cred.get_token("https://graph.microsoft.com/.default")
                assert token.token == f"at-{tenant.lower()}"
    finally:
        await creds.aclose()
        await mi.close()
    assert [urlsplit(url).path for url, _ in sent] == [f"/{t.lower()}/oauth2/v2.0/token" for t in customers]
    for _, form in sent:
        assert form["client_id"] == PROVIDER_APP
        assert form["client_assertion"] == mi_token
        assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        assert "client_secret" not in form
    recorded = [r for r in await sim.requests(method="POST") if "/oauth2/v2.0/token" in r["path"]]
    per_tenant = {t.lower(): sum(1 for r in recorded if r["path"].startswith(f"/{t.lower()}/")) for t in customers}
    assert per_tenant == {t.lower(): 1 for t in customers}


async def test_cache_is_bounded_and_keyed_by_tenant(sim: Any) -> None:
    tenants = [str(uuid.uuid4()) for _ in range(3)]
    mi = make_credential()
    creds = TenantCredentials(PROVIDER_APP, mi, max_tenants=2)
    try:
        first = await creds.for_tenant(tenants[0])
        assert await creds.for_tenant(tenants[0].upper()) is first
        await creds.for_tenant(tenants[1])
        await creds.for_tenant(tenants[2])
        assert len(creds) == 2
        assert await creds.for_tenant(tenants[0]) is not first  # evicted (and closed), built again
    finally:
        await creds.aclose()
        await mi.close()


async def test_services_keep_a_graph_client_per_tenant_within_the_same_bound(sim: Any, monkeypatch: Any) -> None:
    from shared.app.runtime import Services
    from shared.core.settings import load_settings, storage_config

    monkeypatch.setenv("TENANCY_MODE", "provider")
    monkeypatch.setenv("PROVIDER_APP_CLIENT_ID", PROVIDER_APP)
    svc = Services(load_settings(), storage_config())
    svc._tenant_credentials = TenantCredentials(PROVIDER_APP, svc.credential(), max_tenants=2)
    tenants = [str(uuid.uuid4()) for _ in range(3)]
    try:
        first = await svc.tenant_graph(tenants[0])
        assert await svc.tenant_graph(tenants[0].upper()) is first
        await svc.tenant_graph(tenants[1])
        await svc.tenant_graph(tenants[2])
        assert len(svc._tenant_graphs) == 2 and tenants[0] not in svc._tenant_graphs
        assert await svc.tenant_graph(tenants[0]) is not first
    finally:
        await svc.aclose()


async def test_the_tenants_graph_clients_share_a_few_http_pools(sim: Any, monkeypatch: Any) -> None:
    """A thousand tenants must not mean a thousand httpx pools and TLS contexts
    (bench/bench_tenants.py): the tenant clients differ only in their credential, and take the
    process's few pools in turn (:class:`shared.clients.graph.GraphPools`), one TLS context for all."""
    from shared.app import runtime
    from shared.app.runtime import Services
    from shared.core.settings import load_settings, storage_config

    monkeypatch.setenv("TENANCY_MODE", "provider")
    monkeypatch.setenv("PROVIDER_APP_CLIENT_ID", PROVIDER_APP)
    monkeypatch.setattr(runtime, "MAX_TENANT_GRAPHS", 3)
    monkeypatch.setattr(runtime, "TENANT_GRAPH_POOLS", 2)
    svc = Services(load_settings(), storage_config())
    tenants = [str(uuid.uuid4()) for _ in range(5)]
    try:
        graphs = [await svc.tenant_graph(t) for t in tenants]
        http = [g.client.request_adapter._http_client for g in graphs]
        assert [id(h) for h in http] == [id(http[n % 2]) for n in range(5)]  # two pools, in turn
        assert http[0] is not http[1]
        assert http[0]._transport.transport._pool._ssl_context is http[1]._transport.transport._pool._ssl_context
        assert len({id(g) for g in graphs}) == 5  # each tenant its own client (its own credential)
        assert len(svc._tenant_graphs) == 3 and len(svc.tenant_credentials()) == 5  # clients capped, tokens kept
        assert await svc.tenant_graph(tenants[-1]) is graphs[-1]
    finally:
        await svc.aclose()
    assert all(g.client.request_adapter._http_client.is_closed for g in graphs)  # the root closes the pools


async def test_the_tenants_webex_calls_take_the_roots_small_pools_in_turn(sim: Any, monkeypatch: Any) -> None:
    """A tenant's run reaches Webex through one of the root's few small pools (one client for 48
    sweeps at once held ~30 connections, and httpcore's CPU per request grows with them), the same
    pool for the whole run; the deployment's own calls keep the root's client; the root closes all."""
    from shared.app import runtime
    from shared.app.runtime import Services
    from shared.core.settings import load_settings, storage_config
    from shared.core.tenant import make_tenant

    monkeypatch.setenv("TENANCY_MODE", "provider")
    monkeypatch.setenv("PROVIDER_APP_CLIENT_ID", PROVIDER_APP)
    monkeypatch.setattr(runtime, "TENANT_HTTP_POOLS", 2)
    svc = Services(load_settings(), storage_config())
    runs = [svc.for_tenant(make_tenant(str(uuid.uuid4()))) for _ in range(3)]
    try:
        own = await svc.http()
        clients = [await run.http() for run in runs]
        assert [await run.http() for run in runs] == clients  # one pool for the whole run
        assert clients[0] is not clients[1] and clients[2] is clients[0] and own not in clients
        pool = clients[0]._transport._pool
        assert pool._max_connections == pool._max_keepalive_connections == 16
        assert own._transport._pool._max_keepalive_connections == own._transport._pool._max_connections
    finally:
        await svc.aclose()
    assert all(c.is_closed for c in clients) and own.is_closed


async def test_tenant_credentials_share_one_session_that_outlives_an_evicted_credential(
    sim: Any, monkeypatch: Any
) -> None:
    import aiohttp

    opened: list[object] = []
    real_init = aiohttp.ClientSession.__init__

    def counting_init(self: Any, *args: Any, **kwargs: Any) -> None:
        opened.append(self)
        real_init(self, *args, **kwargs)

    customers = [str(uuid.uuid4()) for _ in range(3)]
    for tenant in customers:
        await _answer_as(sim, tenant)
    mi = make_credential()
    await mi.get_token(EXCHANGE_SCOPE)  # the identity's own session opens before counting
    monkeypatch.setattr(aiohttp.ClientSession, "__init__", counting_init)
    creds = TenantCredentials(PROVIDER_APP, mi, max_tenants=2)
    try:
        for tenant in customers:  # the third evicts (and closes) the first credential
            token = await (await creds.for_tenant(tenant)).get_token("https://graph.microsoft.com/.default")
            assert token.token == f"at-{tenant}"
        assert len(opened) == 1
        assert not opened[0].closed  # type: ignore[attr-defined]
        assert opened[0].connector.limit == TOKEN_CONNECTIONS == 16  # type: ignore[attr-defined]
    finally:
        await creds.aclose()
        await mi.close()
    assert opened[0].closed  # type: ignore[attr-defined]


async def test_the_tenants_table_client_is_one_per_process(sim: Any, monkeypatch: Any) -> None:
    """Every sweep message reads its tenant's row: a new table client each time leaked one aiohttp
    session per message (bench/bench_tenants.py warned of a thousand unclosed sessions)."""
    from shared.app.runtime import Services
    from shared.core.settings import load_settings, storage_config
    from shared.core.tenant import make_tenant

    monkeypatch.setenv("TENANCY_MODE", "provider")
    monkeypatch.setenv("PROVIDER_APP_CLIENT_ID", PROVIDER_APP)
    svc = Services(load_settings(), storage_config())
    tenant = make_tenant(str(uuid.uuid4()))
    try:
        store = svc.tenant_store()
        assert svc.tenant_store() is store
        assert svc.for_tenant(tenant).tenant_store() is store
    finally:
        await svc.aclose()
    assert svc.tenant_store() is not store  # closed with the root; a new one after
    await svc.aclose()


async def test_the_managed_identitys_own_token_is_accepted_as_the_assertion_in_a_customer_tenant(sim: Any) -> None:
    """No fault in between: the local "managed identity" asks the simulator for its exchange token
    (a JWT, as Entra issues), the customer tenant's endpoint takes it, and the Graph token reads
    that tenant's directory — the whole provider-mode chain the sweep and the bench run."""
    import httpx

    from simulator.state import INTEGRATION_APP_ID

    provider = (await sim.state())["config"]["provider_client_id"]
    (tenant,) = await sim.add_tenants(1)
    await sim.for_tenant(tenant["tenant_id"]).delete("integration")
    mi = make_credential()
    creds = TenantCredentials(provider, mi)
    try:
        token = (
            await (await creds.for_tenant(tenant["tenant_id"])).get_token("https://graph.microsoft.com/.default")
        ).token
        assert (await mi.get_token(EXCHANGE_SCOPE)).token.count(".") == 2  # JWT-shaped, as Entra's
    finally:
        await creds.aclose()
        await mi.close()
    import os

    async with httpx.AsyncClient(verify=os.environ["SSL_CERT_FILE"]) as http:
        base = os.environ["GRAPH_BASE_URL"]
        answer = await http.get(f"{base}/servicePrincipals(appId='{INTEGRATION_APP_ID}')",
                                headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert answer.status_code == 404  # the customer's world (deleted there), not the default tenant's


async def test_concurrent_first_calls_as_a_tenant_make_one_token_request(sim: Any) -> None:
    """A sweep's checks run at once; without a single flight each asked Entra for its own token."""
    import asyncio

    provider = (await sim.state())["config"]["provider_client_id"]
    (tenant,) = await sim.add_tenants(1)
    mi = make_credential()
    await mi.get_token(EXCHANGE_SCOPE)
    creds = TenantCredentials(provider, mi)
    try:
        await sim.clear_requests()
        credential = await creds.for_tenant(tenant["tenant_id"])
        tokens = await asyncio.gather(*(credential.get_token("https://graph.microsoft.com/.default") for _ in range(5)))
    finally:
        await creds.aclose()
        await mi.close()
    assert len({t.token for t in tokens}) == 1
    asked = [r for r in await sim.requests(method="POST") if r["path"] == f"/{tenant['tenant_id']}/oauth2/v2.0/token"]
    assert len(asked) == 1
