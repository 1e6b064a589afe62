"""Issue 17 point 4: in a sovereign cloud the customer tenant's token is asked of that cloud's login
host, with the managed identity's assertion for that cloud's token-exchange audience, for that
cloud's Graph — all derived from the configured endpoints (infra sets them per cloud). Expected
values are literals from Microsoft's per-cloud table, not rebuilt with the code under test."""

from __future__ import annotations

from typing import Any

import pytest

from shared.app.runtime import Services
from shared.clients.tenant_credentials import cloud_options
from shared.core.settings import StorageConfig, load_settings

BASE = {
    "TENANT_ID": "8f2c3a1e-5b6d-4e7f-9a0b-1c2d3e4f5a6b",
    "WEBEX_ORG_ID": "provider-org",
    "TENANCY_MODE": "provider",
    "PROVIDER_APP_CLIENT_ID": "5b0c7e4e-2f1d-4c1a-9a51-7d2f3b8c9e01",
}
CUSTOMER = "11111111-2222-4333-8444-555555555555"
CLOUDS = [
    # (ENTRA_LOGIN_BASE, GRAPH_BASE_URL, assertion scope, authority, Graph scope)
    ("https://login.microsoftonline.com", "https://graph.microsoft.com/v1.0", "api://AzureADTokenExchange/.default",
     "https://login.microsoftonline.com", "https://graph.microsoft.com/.default"),
    ("https://login.microsoftonline.us", "https://graph.microsoft.us/v1.0", "api://AzureADTokenExchangeUSGov/.default",
     "https://login.microsoftonline.us", "https://graph.microsoft.us/.default"),
    ("https://login.microsoftonline.us", "https://dod-graph.microsoft.us/v1.0",
     "api://AzureADTokenExchangeUSGov/.default", "https://login.microsoftonline.us",
     "https://dod-graph.microsoft.us/.default"),
    ("https://login.chinacloudapi.cn", "https://microsoftgraph.chinacloudapi.cn/v1.0",
     "api://AzureADTokenExchangeChina/.default", "https://login.chinacloudapi.cn",
     "https://microsoftgraph.chinacloudapi.cn/.default"),
    ("https://login.partner.microsoftonline.cn", "https://microsoftgraph.chinacloudapi.cn/v1.0",
     "api://AzureADTokenExchangeChina/.default", "https://login.partner.microsoftonline.cn",
     "https://microsoftgraph.chinacloudapi.cn/.default"),
]  # fmt: skip


class _Source:
    """The managed identity: records the scopes its token was asked for."""

    def __init__(self) -> None:
        self.scopes: list[str] = []

    async def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        self.scopes.extend(scopes)
        return AccessToken("assertion", 2**31)

    async def close(self) -> None:
        return None


@pytest.mark.parametrize("cloud", CLOUDS)
async def test_each_cloud_gets_its_own_audience_authority_and_graph_scope(
    monkeypatch: pytest.MonkeyPatch, cloud: tuple[str, str, str, str, str]
) -> None:
    login, graph, scope, authority, graph_scope = cloud
    monkeypatch.delenv("AZURE_AUTHORITY_HOST", raising=False)
    settings = load_settings({**BASE, "ENTRA_LOGIN_BASE": login, "GRAPH_BASE_URL": graph})
    root = Services(settings, StorageConfig(connection_string="UseDevelopmentStorage=true"))
    source = _Source()
    monkeypatch.setattr(root, "credential", lambda: source)
    credential = await root.tenant_credentials().for_tenant(CUSTOMER)
    asked: list[tuple[str, ...]] = []

    async def inner_get_token(*scopes: str, **kwargs: Any) -> Any:
        asked.append(scopes)
        return "graph-token"

    monkeypatch.setattr(credential._inner, "get_token", inner_get_token)
    assert await credential.get_token(settings.graph_scope) == "graph-token"
    assert source.scopes == [scope]  # the assertion: the managed identity's token for this cloud's audience
    assert asked == [(graph_scope,)]
    assert credential._inner._client._authority == authority
    await root.aclose()


def test_an_authority_host_set_for_the_app_wins_and_an_unknown_login_host_keeps_the_public_audience() -> None:
    gov = load_settings({**BASE, "ENTRA_LOGIN_BASE": "https://login.microsoftonline.us"})
    assert cloud_options(gov, {"AZURE_AUTHORITY_HOST": "https://127.0.0.1:8443"}) == {
        "exchange_scope": "api://AzureADTokenExchangeUSGov/.default"
    }
    sim = load_settings({**BASE, "ENTRA_LOGIN_BASE": "https://127.0.0.1:8443", "ALLOW_CUSTOM_ENDPOINTS": "true"})
    assert cloud_options(sim, {}) == {"exchange_scope": "api://AzureADTokenExchange/.default"}
