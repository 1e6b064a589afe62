"""Issue 17 point 3: service-app tenants' Webex token holders are kept per tenant (the token cache
outlives one sweep) and bounded like the tenant credentials; a tenant whose service app cannot be
reached (no vault, no client id) is told exactly what is missing instead of trying a token."""

from __future__ import annotations

import pytest

from shared.app.runtime import Services
from shared.clients.webex_auth import WebexAuthExpired, tenant_secret_name
from shared.core.settings import StorageConfig, load_settings
from shared.core.tenant import TenantError, make_tenant, tenant_from_row, tenant_to_row

SETTINGS = {
    "TENANT_ID": "8f2c3a1e-5b6d-4e7f-9a0b-1c2d3e4f5a6b",
    "WEBEX_ORG_ID": "provider-org",
    "TENANCY_MODE": "provider",
    "PROVIDER_APP_CLIENT_ID": "5b0c7e4e-2f1d-4c1a-9a51-7d2f3b8c9e01",
}
T = [f"{i}1111111-2222-4333-8444-555555555555" for i in range(1, 4)]


async def test_the_cache_is_per_tenant_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shared.clients.tenant_credentials.DEFAULT_MAX_TENANTS", 2)
    root = Services(load_settings(SETTINGS), StorageConfig(connection_string="UseDevelopmentStorage=true"))
    scopes = [root.for_tenant(make_tenant(t, webex_auth="service_app")) for t in T]
    first = await scopes[0].webex_auth()
    assert await scopes[0].webex_auth() is first
    for scope in scopes[1:]:
        await scope.webex_auth()
    assert len(root._tenant_webex) == 2 and T[0] not in root._tenant_webex  # the least recent went first
    assert await scopes[0].webex_auth() is not first
    with pytest.raises(WebexAuthExpired, match="WEBEX_CLIENT_ID and WEBEX_KEY_VAULT_URL"):
        await first.access_token()
    await root.aclose()
    assert len(root._tenant_webex) == 0


def test_the_mode_round_trips_through_the_row_and_refuses_what_it_does_not_know() -> None:
    tenant = make_tenant(T[0], webex_auth="Service_App")
    assert tenant.webex_auth == "service_app"
    assert tenant_from_row(tenant_to_row(tenant)).webex_auth == "service_app"
    old_row = {k: v for k, v in tenant_to_row(make_tenant(T[0])).items() if k != "webex_auth"}
    assert tenant_from_row(old_row).webex_auth == "partner"  # rows written before the column existed
    for bad in ("token", 3, "service_app; drop", "\x00"):
        with pytest.raises(TenantError, match="webex auth"):
            tenant_from_row({**old_row, "webex_auth": bad})


def test_the_secret_name_is_derived_from_the_tenant_guid_only() -> None:
    assert tenant_secret_name("webex-refresh-token", T[0].upper()) == f"webex-refresh-token-{T[0]}"
    with pytest.raises(TenantError):
        tenant_secret_name("webex-refresh-token", "../other-secret")
    with pytest.raises(ValueError, match="too long"):
        tenant_secret_name("w" * 100, T[0])


async def test_a_base_name_too_long_for_per_tenant_names_is_that_tenants_notice_not_a_crash() -> None:
    import httpx

    from shared.clients.webex_auth import build_tenant_auth

    settings = load_settings({**SETTINGS, "WEBEX_CLIENT_ID": "C1", "WEBEX_KEY_VAULT_URL": "https://kv.vault.azure.net",
                              "WEBEX_REFRESH_TOKEN_SECRET": "w" * 100})  # fmt: skip
    async with httpx.AsyncClient() as http:
        auth = build_tenant_auth(settings, http, object(), T[0])
        with pytest.raises(WebexAuthExpired, match="too long"):
            await auth.access_token()
