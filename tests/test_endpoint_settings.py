"""Issue 15, point 6: the API base URLs receive the app's tokens and the Webex client secret and
refresh token, and the login base is put in every consent button. A URL with userinfo
(``https://webexapis.com@evil.example/v1``) goes to evil.example, so it is refused; only the known
hosts of each cloud are accepted unless ``ALLOW_CUSTOM_ENDPOINTS=true``."""

from __future__ import annotations

import io
import uuid

import pytest

from shared.core.errors import ConfigError
from shared.core.settings import load_settings

BASE = {"TENANT_ID": str(uuid.uuid4()), "WEBEX_ORG_ID": str(uuid.uuid4())}

USERINFO = [
    ("WEBEX_API_BASE", "https://webexapis.com@evil.example/v1"),
    ("WEBEX_API_BASE", "https://user:pass@webexapis.com/v1"),
    ("ENTRA_LOGIN_BASE", "https://login.microsoftonline.com@evil.example"),
    ("GRAPH_BASE_URL", "https://graph.microsoft.com@evil.example/v1.0"),
    ("LOG_ANALYTICS_ENDPOINT", "https://api.loganalytics.io@evil.example"),
    ("WEBEX_IDENTITY_BASE", "https://identity-b-us.webex.com@evil.example"),
    ("NOTIFY_WEBHOOK_URL", "https://hooks.example@evil.example/in"),
    ("WEBEX_KEY_VAULT_URL", "https://kv.vault.azure.net@evil.example"),
    ("TEAMS_WEBHOOK_URL", "https://prod.westeurope.logic.azure.com@evil.example/workflows/1?sig=x"),
]


@pytest.mark.parametrize(("name", "url"), USERINFO)
@pytest.mark.parametrize("custom", [False, True])
def test_userinfo_is_refused_even_with_custom_endpoints(name: str, url: str, custom: bool) -> None:
    env = {**BASE, name: url, "ALLOW_CUSTOM_ENDPOINTS": "true" if custom else "false"}
    with pytest.raises(ConfigError) as exc:
        load_settings(env)
    assert name in str(exc.value) and "user name or password" in str(exc.value)
    assert "evil.example" not in str(exc.value).split(name, 1)[0]


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("GRAPH_BASE_URL", "https://graph.microsoft.us/v1.0"),
        ("GRAPH_BASE_URL", "https://dod-graph.microsoft.us/v1.0"),
        ("GRAPH_BASE_URL", "https://microsoftgraph.chinacloudapi.cn/v1.0"),
        ("ENTRA_LOGIN_BASE", "https://login.microsoftonline.us/"),
        ("ENTRA_LOGIN_BASE", "https://login.chinacloudapi.cn"),
        ("LOG_ANALYTICS_ENDPOINT", "https://api.loganalytics.us"),
        ("LOG_ANALYTICS_ENDPOINT", "https://api.loganalytics.azure.cn"),
        ("WEBEX_API_BASE", "https://api-usgov.webex.com/v1"),
        ("WEBEX_API_BASE", "https://WEBEXAPIS.com:443/v1"),
        ("WEBEX_IDENTITY_BASE", "https://identity-a-eu.webex.com"),
    ],
)
def test_known_hosts_of_each_cloud_are_accepted(name: str, url: str) -> None:
    settings = load_settings({**BASE, name: url})
    assert settings.allow_custom_endpoints is False


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("WEBEX_API_BASE", "https://evil.example/v1"),
        ("WEBEX_API_BASE", "https://webexapis.com.evil.example/v1"),
        ("WEBEX_API_BASE", "https://webexapis.com:8443/v1"),
        ("GRAPH_BASE_URL", "https://graph.microsoft.com.evil.example/v1.0"),
        ("ENTRA_LOGIN_BASE", "https://login.evil.example"),
        ("LOG_ANALYTICS_ENDPOINT", "https://127.0.0.1:9999/loganalytics"),
        ("WEBEX_IDENTITY_BASE", "https://identity.evil.example"),
        ("WEBEX_IDENTITY_BASE", "https://identity-b-us.webex.com.evil.example"),
        ("WEBEX_IDENTITY_BASE", "https://evil.identity.webex.com.example"),
    ],
)
def test_other_hosts_need_the_explicit_opt_in(name: str, url: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_settings({**BASE, name: url})
    assert name in str(exc.value) and "ALLOW_CUSTOM_ENDPOINTS" in str(exc.value)
    settings = load_settings({**BASE, name: url, "ALLOW_CUSTOM_ENDPOINTS": "true"})
    assert settings.allow_custom_endpoints is True


def test_defaults_are_known_hosts() -> None:
    from shared.core.settings import KNOWN_ENDPOINT_HOSTS

    s = load_settings(BASE)
    for url in (s.graph_base_url, s.entra_login_base, s.log_analytics_endpoint, s.webex_api_base):
        assert any(f"//{h}" in url for hosts in KNOWN_ENDPOINT_HOSTS.values() for h in hosts)


@pytest.mark.parametrize("command", ["render", "classify"])
def test_offline_commands_refuse_a_login_base_with_userinfo(
    command: str, monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    """``render``/``classify`` build consent URLs from ENTRA_LOGIN_BASE without loading every
    setting: the same check applies (exit 2, nothing rendered)."""
    from shared.cli.main import main

    monkeypatch.setenv("ENTRA_LOGIN_BASE", "https://login.microsoftonline.com@evil.example")
    out, err = io.StringIO(), io.StringIO()
    args = [command, "-"] if command == "classify" else [command, "-", "--channel", "email"]
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"[]")))
    assert main(args, out, err) == 2
    assert "ENTRA_LOGIN_BASE" in err.getvalue() and "evil.example" not in out.getvalue()
