"""Many tenants in the simulator (issue 17, point 5): each tenant its own world, reached by the
tenant of the bearer token; the provider app's client-assertion grant; Graph's identity-and-access
reports limits per app per tenant and per app across all tenants; one tenant throttled for a while.

Time moves on the simulator's clock only (``advance_clock``): nothing here waits for real.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

AUDITS = "/auditLogs/directoryAudits"


async def _state_config(sim: Any) -> dict[str, Any]:
    return dict((await sim.state())["config"])


async def _token_response(
    env: dict[str, str], tenant: str, client_id: str, *, assertion: str | None = None, secret: str | None = None
) -> httpx.Response:
    from simulator.aad import JWT_BEARER

    form = {"grant_type": "client_credentials", "client_id": client_id, "scope": "https://graph.microsoft.com/.default"}
    if assertion is not None:
        form |= {"client_assertion_type": JWT_BEARER, "client_assertion": assertion}
    if secret is not None:
        form["client_secret"] = secret
    async with httpx.AsyncClient(verify=env["SSL_CERT_FILE"]) as http:
        return await http.post(f"{env['SIMULATOR_URL']}/{tenant}/oauth2/v2.0/token", data=form)


async def _provider_token(env: dict[str, str], tenant: str, provider: str) -> str:
    from simulator.client import federated_assertion

    response = await _token_response(env, tenant, provider, assertion=federated_assertion())
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


@pytest.fixture
async def graph(services_env: dict[str, str]) -> AsyncIterator[Any]:
    """``graph(token)``: an httpx client on simulated Graph with that bearer token."""
    clients: list[httpx.AsyncClient] = []

    def make(token: str) -> httpx.AsyncClient:
        client = httpx.AsyncClient(
            base_url=services_env["GRAPH_BASE_URL"],
            headers={"Authorization": f"Bearer {token}"},
            verify=services_env["SSL_CERT_FILE"],
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


async def _integration_present(client: httpx.AsyncClient) -> bool:
    from simulator.state import INTEGRATION_APP_ID

    response = await client.get(f"/servicePrincipals(appId='{INTEGRATION_APP_ID}')")
    return response.status_code == 200


async def test_each_tenant_is_its_own_world_reached_by_the_tokens_tenant(
    sim: Any, services_env: dict[str, str], graph: Any
) -> None:
    from simulator.state import INTEGRATION_APP_ID

    provider = (await _state_config(sim))["provider_client_id"]
    a, b = await sim.add_tenants(2)
    token_a = await _provider_token(services_env, a["tenant_id"], provider)
    token_b = await _provider_token(services_env, b["tenant_domain"], provider)  # by domain: the GUID's world
    home = await _provider_token(services_env, services_env["AZURE_TENANT_ID"], provider)
    ga, gb, gh = graph(token_a), graph(token_b), graph(home)

    records = await sim.for_tenant(a["tenant_id"]).delete("integration", actor="mallory@a.example")

    assert records and all(r["initiatedBy"]["user"]["userPrincipalName"] == "mallory@a.example" for r in records)
    assert not await _integration_present(ga)
    assert await _integration_present(gb) and await _integration_present(gh)
    bin_a = (await ga.get("/directory/deletedItems/microsoft.graph.servicePrincipal")).json()["value"]
    bin_b = (await gb.get("/directory/deletedItems/microsoft.graph.servicePrincipal")).json()["value"]
    assert [sp["appDisplayName"] for sp in bin_a] == ["Cisco Webex Identity Integration"] and bin_b == []
    audits_a = (await ga.get(AUDITS)).json()["value"]
    audits_b = (await gb.get(AUDITS)).json()["value"]
    assert {r["activityDisplayName"] for r in audits_a} >= {"Delete service principal"} and audits_b == []
    delta_a = (await ga.get("/servicePrincipals/delta()")).json()["value"]
    delta_b = (await gb.get("/servicePrincipals/delta()")).json()["value"]
    live_a = {sp.get("appId") for sp in delta_a if "@removed" not in sp}
    live_b = {sp.get("appId") for sp in delta_b if "@removed" not in sp}
    assert INTEGRATION_APP_ID in live_b and INTEGRATION_APP_ID not in live_a
    # recorded: each Graph call names the tenant whose world served it; the assertions were recorded
    seen = {r["token_tenant"] for r in await sim.requests(path="/graph/")}
    assert seen == {a["tenant_id"], b["tenant_id"], services_env["AZURE_TENANT_ID"].lower()}
    claims = (await sim.state())["client_assertions"]
    assert {c["tenant"] for c in claims} == seen
    assert all(c["aud"] == "api://AzureADTokenExchange" and c["client_id"] == provider for c in claims)
    # the extra tenant's own state, through the same controls
    snap = await sim.for_tenant(a["tenant_id"]).state()
    assert snap["config"]["tenant_id"] == a["tenant_id"] and not snap["integration_healthy"]
    assert (await sim.state())["integration_healthy"]


async def test_the_sdks_client_assertion_credential_gets_a_token_in_a_customer_tenant(
    sim: Any, services_env: dict[str, str], graph: Any
) -> None:
    from azure.identity.aio import ClientAssertionCredential

    from simulator.client import federated_assertion

    provider = (await _state_config(sim))["provider_client_id"]
    (tenant,) = await sim.add_tenants(1)
    async with ClientAssertionCredential(
        tenant["tenant_id"], provider, federated_assertion,
        authority=services_env["AZURE_AUTHORITY_HOST"], connection_verify=services_env["SSL_CERT_FILE"],
    ) as cred:  # fmt: skip
        token = (await cred.get_token("https://graph.microsoft.com/.default")).token
    assert await _integration_present(graph(token))
    (form,) = [r["form"] for r in await sim.requests(path="oauth2/v2.0/token")]
    assert form["client_assertion"] == "<redacted>"  # never recorded in the clear
    assert form["client_assertion_type"].endswith("client-assertion-type:jwt-bearer")


@pytest.mark.parametrize(
    ("assertion", "status", "code"),
    [
        ("not-a-jwt", 401, 50027),
        ("a.b", 401, 50027),  # truncated
        ("e30." + "QUFB" * 6000 + ".c2ln", 401, 50027),  # oversized
        ("e30.W10.c2ln", 401, 50027),  # payload is JSON but not an object
        ("e30.%%%.c2ln", 401, 50027),  # not base64url
        ("e30.eyJhdWQiOiAiaHR0cHM6Ly9ldmlsIn0.c2ln", 401, 700212),  # aud: https://evil
    ],
)
async def test_a_bad_client_assertion_is_refused(
    sim: Any, services_env: dict[str, str], assertion: str, status: int, code: int
) -> None:
    provider = (await _state_config(sim))["provider_client_id"]
    response = await _token_response(services_env, services_env["AZURE_TENANT_ID"], provider, assertion=assertion)
    assert response.status_code == status
    assert response.json()["error_codes"] == [code]
    assert (await sim.state())["client_assertions"] == []


async def test_consent_revoked_in_one_tenant_refuses_tokens_there_only(sim: Any, services_env: dict[str, str]) -> None:
    from simulator.client import federated_assertion

    provider = (await _state_config(sim))["provider_client_id"]
    a, b = await sim.add_tenants(2)
    await sim.provider_consent(a["tenant_id"], False)
    refused = await _token_response(services_env, a["tenant_id"], provider, assertion=federated_assertion())
    assert refused.status_code == 400 and refused.json()["error_codes"] == [700016]
    assert await _provider_token(services_env, b["tenant_id"], provider)
    # the deployment's own single-tenant app is not in a customer tenant
    own = await _token_response(
        services_env, b["tenant_id"], services_env["AZURE_CLIENT_ID"], secret=services_env["AZURE_CLIENT_SECRET"]
    )
    assert own.status_code == 400 and own.json()["error_codes"] == [700016]
    async with httpx.AsyncClient(verify=services_env["SSL_CERT_FILE"]) as http:  # the admin consents again
        await http.get(f"{services_env['SIMULATOR_URL']}/{a['tenant_id']}/adminconsent", params={"client_id": provider})
    assert await _provider_token(services_env, a["tenant_id"], provider)


async def test_a_removed_tenants_tokens_and_authority_are_refused(
    sim: Any, services_env: dict[str, str], graph: Any
) -> None:
    provider = (await _state_config(sim))["provider_client_id"]
    (tenant,) = await sim.add_tenants(1)
    token = await _provider_token(services_env, tenant["tenant_id"], provider)
    await sim.remove_tenant(tenant["tenant_id"])
    response = await graph(token).get("/servicePrincipals")
    assert response.status_code == 401 and response.json()["error"]["code"] == "InvalidAuthenticationToken"
    again = await _token_response(
        services_env, tenant["tenant_id"], provider, secret=services_env["AZURE_CLIENT_SECRET"]
    )
    assert again.status_code == 400 and again.json()["error_codes"] == [90002]


def _is_graph_429(response: httpx.Response) -> bool:
    body = response.json()
    inner = body["error"]["innerError"]
    return (
        response.status_code == 429
        and int(response.headers["Retry-After"]) >= 1
        and body["error"]["code"] == "TooManyRequests"
        and {"date", "request-id", "client-request-id"} <= set(inner)
    )


async def test_audit_reads_are_limited_to_5_per_10_seconds_per_app_per_tenant(
    sim: Any, services_env: dict[str, str], graph: Any
) -> None:
    provider = (await _state_config(sim))["provider_client_id"]
    a, b = await sim.add_tenants(2)
    ga = graph(await _provider_token(services_env, a["tenant_id"], provider))
    gb = graph(await _provider_token(services_env, b["tenant_id"], provider))
    assert [(await ga.get(AUDITS)).status_code for _ in range(5)] == [200] * 5
    sixth = await ga.get(AUDITS)
    assert _is_graph_429(sixth) and int(sixth.headers["Retry-After"]) <= 10
    assert (await ga.get("/servicePrincipals")).status_code == 200  # directory APIs are not this limit
    assert (await gb.get(AUDITS)).status_code == 200  # another tenant's budget is its own
    await sim.advance_clock(10)
    assert (await ga.get(AUDITS)).status_code == 200


async def test_audit_reads_are_limited_to_122_per_10_seconds_per_app_across_tenants(
    sim: Any, services_env: dict[str, str], graph: Any
) -> None:
    provider = (await _state_config(sim))["provider_client_id"]
    tenants = await sim.add_tenants(26)
    clients = [graph(await _provider_token(services_env, t["tenant_id"], provider)) for t in tenants]
    statuses = [(await c.get(AUDITS)).status_code for c in clients[:25] for _ in range(5)]
    assert statuses == [200] * 122 + [429] * 3  # no tenant past its 5: the app's 122 decided
    last = await clients[25].get(AUDITS)  # a tenant that has not read at all is refused too
    assert _is_graph_429(last)
    # the deployment's own app is another app: its budget is its own
    own = graph(
        (
            await _token_response(
                services_env,
                services_env["AZURE_TENANT_ID"],
                services_env["AZURE_CLIENT_ID"],
                secret=services_env["AZURE_CLIENT_SECRET"],
            )
        ).json()["access_token"]
    )
    assert (await own.get(AUDITS)).status_code == 200
    await sim.advance_clock(10)
    assert (await clients[25].get(AUDITS)).status_code == 200


async def test_one_tenant_throttled_for_600_seconds_delays_no_other(
    sim: Any, services_env: dict[str, str], graph: Any
) -> None:
    provider = (await _state_config(sim))["provider_client_id"]
    a, b = await sim.add_tenants(2)
    ga = graph(await _provider_token(services_env, a["tenant_id"], provider))
    gb = graph(await _provider_token(services_env, b["tenant_id"], provider))
    await sim.throttle_tenant(a["tenant_id"], 600)
    refused = await ga.get("/servicePrincipals")
    assert _is_graph_429(refused) and int(refused.headers["Retry-After"]) in (599, 600)
    assert (await gb.get("/servicePrincipals")).status_code == 200
    await sim.advance_clock(300)
    assert 299 <= int((await ga.get(AUDITS)).headers["Retry-After"]) <= 300
    await sim.advance_clock(300)
    assert (await ga.get("/servicePrincipals")).status_code == 200
    await sim.throttle_tenant(a["tenant_id"], 60, scope="audit")
    assert (await ga.get("/servicePrincipals")).status_code == 200
    assert _is_graph_429(await ga.get(AUDITS))


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/tenants", {"count": 0}),
        ("/tenants", {"count": True}),
        ("/tenants", {"count": 5001}),
        ("/tenants", {"count": 2, "tenant_id": "x"}),
        ("/tenants", {"tenant_id": 7}),
        ("/tenants/unknown/throttle", {"seconds": 600}),
        ("/tenants/{a}/throttle", {"seconds": -1}),
        ("/tenants/{a}/throttle", {"seconds": 600, "scope": "everything"}),
        ("/tenants/{a}/throttle", {"seconds": "600"}),
        ("/tenants/{a}/provider-consent", {"granted": "no"}),
    ],
)
async def test_tenant_controls_check_their_input(sim: Any, path: str, body: dict[str, Any]) -> None:
    from simulator.client import SimulatorControlError

    (a,) = await sim.add_tenants(1)
    with pytest.raises(SimulatorControlError) as caught:
        await sim._call("POST", path.format(a=a["tenant_id"]), json=body)
    assert caught.value.status in (400, 404)
    assert len((await sim.tenants())["tenants"]) == 1


async def test_a_tenant_id_taken_or_reset_goes_back_to_one_tenant(sim: Any, services_env: dict[str, str]) -> None:
    from simulator.client import SimulatorControlError

    (a,) = await sim.add_tenants(1, tenant_id="Tenant-Not-A-Guid.Example")
    assert a["tenant_id"] == "tenant-not-a-guid.example"  # ids are not always GUIDs
    for taken in (a["tenant_id"], services_env["AZURE_TENANT_ID"]):
        with pytest.raises(SimulatorControlError):
            await sim.add_tenants(1, tenant_id=taken)
    await sim.reset()
    assert (await sim.tenants())["tenants"] == []


def test_a_rate_window_wait_counts_nothing() -> None:
    from datetime import UTC, datetime, timedelta

    from simulator.graph_behaviour import RateWindow

    window, now = RateWindow(), datetime(2026, 1, 1, tzinfo=UTC)
    assert [window.wait(now, 1, 10.0) for _ in range(3)] == [None] * 3
    assert window.admit(now, 1, 10.0) is None
    assert window.wait(now + timedelta(seconds=4), 1, 10.0) == pytest.approx(6.0)
    assert window.wait(now + timedelta(seconds=10), 1, 10.0) is None
    assert window.wait(now, 0, 10.0) is None  # 0: no limit


async def test_graph_call_latency_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bench's 100 ms per Graph call: awaited before every answer (sleep recorded, not waited)."""
    import simulator.graph
    from simulator.server import Simulator

    slept: list[float] = []

    async def record(seconds: float) -> None:
        slept.append(seconds)

    async with Simulator() as server:
        env = server.env()
        server.state.graph_behaviour.update({"call_latency_seconds": 0.1})
        monkeypatch.setattr(simulator.graph.asyncio, "sleep", record)
        token = (
            await _token_response(
                env, env["AZURE_TENANT_ID"], env["AZURE_CLIENT_ID"], secret=env["AZURE_CLIENT_SECRET"]
            )
        ).json()["access_token"]
        async with httpx.AsyncClient(
            base_url=env["GRAPH_BASE_URL"], headers={"Authorization": f"Bearer {token}"}, verify=env["SSL_CERT_FILE"]
        ) as http:
            assert (await http.get("/servicePrincipals")).status_code == 200
            assert (await http.get(AUDITS)).status_code == 200
    assert [s for s in slept if s] == [0.1, 0.1]  # one per Graph call (others' sleep(0) aside)
    assert json.dumps(server.state.graph_behaviour.describe())  # still a JSON-able description


async def test_each_tenant_has_its_own_webex_org_reached_by_its_token(sim: Any, services_env: dict[str, str]) -> None:
    a, b = await sim.add_tenants(2)
    await sim.for_tenant(a["tenant_id"]).delete("integration")
    base = services_env["WEBEX_IDENTITY_BASE"] + "/extIntegration/azureAD/{org}/v1/WebexApplications/status"

    async def status(tenant: dict[str, Any]) -> httpx.Response:
        async with httpx.AsyncClient(verify=services_env["SSL_CERT_FILE"]) as http:
            headers = {"Authorization": f"Bearer {tenant['webex_access_token']}"}
            return await http.get(base.format(org=tenant["org_id"]), headers=headers)

    broken, healthy = await status(a), await status(b)
    assert broken.status_code == 401 and "701018" in broken.text
    assert healthy.status_code == 200 and healthy.json()["azureTenantId"] == b["tenant_id"]
    default = (await sim.tenants())["default"]
    assert (await status(default)).status_code == 200
    crossed = await status({**b, "org_id": a["org_id"]})  # b's token does not open a's org
    assert crossed.status_code == 404
