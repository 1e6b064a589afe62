"""Issue 17 point 3: each customer tenant's Webex org, reached either through the provider's service
app as authorized in the customer's own org (``webex_auth = service_app``: the tenant's refresh token
is its own Key Vault secret, ``webex-refresh-token-<tenant>``) or through the deployment's own
credential (``partner``: a partner administrator's token reaching the customer orgs). Against the
simulator's Key Vault, token endpoint and per-tenant Webex orgs, and Azurite."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest

from shared.core.tenant import make_tenant
from tests.check_helpers import webex_status

STATUS_PATH = "/WebexApplications/status$"
TOKEN_PATH = "/webexapis/v1/access_token$"


@pytest.fixture
async def provider_app(
    sim: Any, monkeypatch: pytest.MonkeyPatch, services_env: dict[str, str]
) -> AsyncIterator[dict[str, str]]:
    """A provider deployment whose Webex service app is authorized in its own org (the deployment's
    credential, in Key Vault) and whose secrets live in the simulator's vault. Afterwards the Key
    Vault SDK's process-wide challenge cache is emptied again: it remembers the (one, shared)
    simulator's challenge, and a later test that watches the challenge round must see it happen."""
    from shared.app.runtime import reset_services
    from shared.core.settings import reset_settings

    app = {"id": "C" + secrets.token_hex(16), "secret": secrets.token_hex(16), "root_rt": "rt-" + secrets.token_hex(8)}
    await sim.reset(webex_client_id=app["id"], webex_client_secret=app["secret"], webex_refresh_token=app["root_rt"])
    await sim.set_secret("webex-refresh-token", app["root_rt"])
    await sim.set_secret("webex-client-secret", app["secret"])
    for name in ("REFRESH_TOKEN", "CLIENT_SECRET", "REFRESH_TOKEN_SECRET", "CLIENT_SECRET_SECRET"):
        monkeypatch.delenv(f"WEBEX_{name}", raising=False)
    monkeypatch.setenv("TENANCY_MODE", "provider")
    monkeypatch.setenv("WEBEX_CLIENT_ID", app["id"])
    monkeypatch.setenv("WEBEX_KEY_VAULT_URL", services_env["SIMULATOR_URL"])
    reset_settings()
    await reset_services()
    yield app
    await reset_services()
    from azure.keyvault.secrets._shared import http_challenge_cache

    http_challenge_cache.clear()


async def _customer(sim: Any, app: dict[str, str], *, authorized: bool = True) -> dict[str, Any]:
    """A customer tenant with its own Webex org; ``authorized``: its admin authorized the provider's
    service app there and the provider stored the refresh token under the tenant's secret name."""
    (world,) = await sim.add_tenants(1)
    if authorized:
        rt = "rt-" + secrets.token_hex(8)
        await sim.for_tenant(world["tenant_id"]).reset(
            webex_client_id=app["id"], webex_client_secret=app["secret"], webex_refresh_token=rt
        )
        await sim.set_secret(f"webex-refresh-token-{world['tenant_id']}", rt)
    return dict(world)


async def test_a_service_app_tenant_reaches_its_own_org_with_its_own_token(
    sim: Any, provider_app: dict[str, str]
) -> None:
    from shared.app.runtime import get_services

    a, b = await _customer(sim, provider_app), await _customer(sim, provider_app)
    svc = await get_services()
    ta = make_tenant(a["tenant_id"], webex_org_id=a["org_id"], webex_auth="service_app")
    tb = make_tenant(b["tenant_id"], webex_org_id=b["org_id"], webex_auth="service_app")
    for tenant, world in ((ta, a), (tb, b)):
        result = await webex_status(svc.for_tenant(tenant), notify=False)
        assert result.verdict == "healthy", result.evidence
        last = (await sim.requests(path=STATUS_PATH))[-1]
        assert world["org_id"] in last["path"] and last["status"] == 200
    vault_reads = [r["path"] for r in await sim.requests(path="^/secrets/") if r["method"] == "GET"]
    assert any(p.startswith(f"/secrets/webex-refresh-token-{a['tenant_id']}") for p in vault_reads)
    assert any(p.startswith(f"/secrets/webex-refresh-token-{b['tenant_id']}") for p in vault_reads)

    auth_a = await svc.for_tenant(ta).webex_auth()
    assert auth_a is await svc.for_tenant(ta).webex_auth(), "cached per tenant: its token outlives one sweep"
    assert auth_a is not await svc.for_tenant(tb).webex_auth() and auth_a is not await svc.webex_auth()
    refreshes = len(await sim.requests(path=TOKEN_PATH, method="POST"))
    assert (await webex_status(svc.for_tenant(ta), notify=False)).verdict == "healthy"
    assert len(await sim.requests(path=TOKEN_PATH, method="POST")) == refreshes, "the cached token was used"


async def test_a_partner_tenant_uses_the_deployments_credential(sim: Any, provider_app: dict[str, str]) -> None:
    from shared.app.runtime import get_services

    svc = await get_services()
    partner = svc.for_tenant(make_tenant("11111111-2222-4333-8444-555555555555"))
    assert await partner.webex_auth() is await svc.webex_auth()
    assert partner.settings.webex_org_id == svc.settings.webex_org_id  # no org of its own: the deployment's


async def test_a_tenant_without_its_secret_is_told_what_is_missing_and_no_other_is_touched(
    sim: Any, provider_app: dict[str, str]
) -> None:
    from shared.app.runtime import get_services

    good, missing = await _customer(sim, provider_app), await _customer(sim, provider_app, authorized=False)
    svc = await get_services()
    scope = svc.for_tenant(
        make_tenant(missing["tenant_id"], webex_org_id=missing["org_id"], webex_auth="service_app",
                    contacts="it@missing.example")
    )  # fmt: skip
    result = await webex_status(scope)
    assert result.verdict == "authorization_expired"
    assert f"webex-refresh-token-{missing['tenant_id']}" in result.evidence
    mails = (await sim.state())["sent_mails"]
    to = {r["emailAddress"]["address"] for m in mails for r in m["message"]["toRecipients"]}
    assert to == {"it@missing.example"}, "only that tenant's contacts are told"
    assert f"Tenant: {missing['tenant_id']}" in mails[-1]["message"]["textBody"]
    ok = make_tenant(good["tenant_id"], webex_org_id=good["org_id"], webex_auth="service_app")
    assert (await webex_status(svc.for_tenant(ok), notify=False)).verdict == "healthy"
