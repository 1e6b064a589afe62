"""The tenants' token session reads proxy and netrc settings from the environment only where it has
some. With aiohttp's ``trust_env`` on, every request looks both up in a worker thread (two thread
hand-offs per request); with nothing to find the answer is the same without the lookups
(shared/clients/http_pools.py). The Table and Queue clients follow the same rule, proven on Azurite
in tests/test_storage_env_settings.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.clients.http_pools import environment_proxies_or_netrc


def test_no_proxy_and_no_netrc_is_nothing_to_look_up(bare_environment: Path) -> None:
    assert environment_proxies_or_netrc() is False


@pytest.mark.parametrize("name", ["HTTPS_PROXY", "http_proxy", "ALL_PROXY"])
def test_a_proxy_in_the_environment_is_still_used(
    bare_environment: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv(name, "http://proxy.example:3128")
    assert environment_proxies_or_netrc() is True


def test_a_netrc_file_is_still_read(bare_environment: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (bare_environment / ".netrc").write_text("machine example.com login a password b\n")
    assert environment_proxies_or_netrc() is True
    monkeypatch.setenv("NETRC", str(bare_environment / "missing"))
    assert environment_proxies_or_netrc() is False
    monkeypatch.setenv("NETRC", str(bare_environment / ".netrc"))
    assert environment_proxies_or_netrc() is True


async def test_the_tenants_token_session_follows_the_same_rule(bare_environment: Path) -> None:
    from shared.clients.tenant_credentials import TenantCredentials

    creds = TenantCredentials("5b0c7e4e-2f1d-4c1a-9a51-7d2f3b8c9e01", object())  # type: ignore[arg-type]
    try:
        creds._transport_options()
        assert creds._session.trust_env is False
    finally:
        await creds.aclose()
