"""One missing Key Vault secret turns one channel off, never the app.

App Service hands a Key Vault reference it cannot resolve to the app as its literal text
(``@Microsoft.KeyVault(SecretUri=…)``). Read as a value it would fail URL validation (ConfigError:
every trigger down) or be sent as a bearer token. It is read as unset instead, a warning names the
setting (never the value), and the admins are told once through the channels that work.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from shared.core.errors import ConfigError
from shared.core.settings import Settings, is_unresolved_reference, load_settings
from tests.helpers import eventgrid_event, incidents, run_intake
from tests.notice_helpers import delivered, enable_all_channels

TENANT = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
ORG = "2fdb923e-1d23-4e1b-a30f-e9cd88845744"
REF = "@Microsoft.KeyVault(SecretUri=https://kv-secretive.vault.azure.net/secrets/{})"
BASE = {"TENANT_ID": TENANT, "WEBEX_ORG_ID": ORG}


@pytest.mark.parametrize(
    "value",
    [
        REF.format("teams-webhook-url"),
        "  @microsoft.keyvault(VaultName=kv;SecretName=x)",
        "@MICROSOFT.KEYVAULT(SecretUri=https://kv.vault.azure.net/secrets/x/)",
    ],
)
def test_any_casing_of_a_reference_is_unresolved(value: str) -> None:
    assert is_unresolved_reference(value)


def test_plain_values_are_not_references() -> None:
    for value in ("https://prod.example/workflows/x", "Microsoft.KeyVault(", "token @Microsoft.KeyVault(", ""):
        assert not is_unresolved_reference(value)


def test_unresolved_secrets_are_unset_and_named_never_shown(caplog: pytest.LogCaptureFixture) -> None:
    env = {
        **BASE,
        "TEAMS_WEBHOOK_URL": REF.format("teams-webhook-url"),
        "WEBEX_ACCESS_TOKEN": REF.format("webex-access-token"),
        "WEBEX_BOT_TOKEN": REF.format("webex-bot-token"),
        "WEBEX_ROOM_ID": "Y2lzY29zcGFyazovL3VzL1JPT00vMQ",
        "NOTIFY_WEBHOOK_URL": "https://hooks.example/itsm",
        "NOTIFY_WEBHOOK_SECRET": REF.format("notify-webhook-secret"),
    }
    with caplog.at_level(logging.WARNING, logger="shared.core.settings"):
        s = load_settings(env)
    assert s.teams_webhook_url is None and s.webex_access_token is None and s.webex_bot_token is None
    assert s.notify_webhook_secret is None and not s.webex_messages_enabled and not s.webhook_enabled
    assert s.unresolved_references == (
        "NOTIFY_WEBHOOK_SECRET", "TEAMS_WEBHOOK_URL", "WEBEX_ACCESS_TOKEN", "WEBEX_BOT_TOKEN",
    )  # fmt: skip
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    for name in s.unresolved_references:
        assert any(name in r.getMessage() and getattr(r, "setting", None) == name for r in warned), name
    assert not any("kv-secretive" in r.getMessage() for r in caplog.records), "values never reach the log"
    messages = [p.message for p in s.problems]
    assert "TEAMS_WEBHOOK_URL: its Key Vault reference did not resolve; the Teams channel is off" in messages
    # the webhook URL without its (unresolved) key is reported once, as the unresolved key
    assert not any(m.startswith("NOTIFY_WEBHOOK_URL is set") for m in messages)


def test_a_required_setting_that_did_not_resolve_says_so() -> None:
    with pytest.raises(ConfigError) as exc:
        load_settings({**BASE, "WEBEX_ORG_ID": REF.format("org")})
    assert "WEBEX_ORG_ID: its Key Vault reference did not resolve" in str(exc.value)
    assert "kv-secretive" not in str(exc.value)


def test_half_configured_channels_are_problems_not_errors(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="shared.core.settings"):
        s = load_settings({**BASE, "NOTIFY_WEBHOOK_URL": "https://hooks.example/itsm", "WEBEX_ROOM_ID": "room"})
    assert not s.webhook_enabled and not s.webex_messages_enabled
    messages = {p.message for p in s.problems}
    assert messages == {
        "NOTIFY_WEBHOOK_URL is set but NOTIFY_WEBHOOK_SECRET is not: the webhook channel is off "
        "(notices are only sent signed)",
        "WEBEX_ROOM_ID is set but WEBEX_BOT_TOKEN is not: the Webex space channel is off",
    }
    assert {r.getMessage() for r in caplog.records} == {f"configuration: {m}" for m in messages}
    assert Settings.model_validate(BASE).problems == ()


async def test_kv_literal_teams_url_other_channels_still_deliver(
    sim: Any,
    app_functions: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    services_env: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from azure.functions.timer import TimerRequest

    from shared.app.runtime import reset_services
    from shared.core.settings import reset_settings

    await enable_all_channels(monkeypatch, services_env)
    monkeypatch.setenv("TEAMS_WEBHOOK_URL", REF.format("teams-webhook-url"))
    reset_settings()
    await reset_services()

    records = await sim.delete("integration", actor="mallory@contoso.example")
    with caplog.at_level(logging.WARNING, logger="shared.core.settings"):
        await app_functions["eventgrid_audit"].get_user_function()(eventgrid_event(records[0]))
        assert await run_intake(app_functions) == 1
    assert any("TEAMS_WEBHOOK_URL" in r.getMessage() for r in caplog.records), "a warning names the setting"
    (inc,) = await incidents()
    assert inc.state == "notified"
    got = await delivered(sim)
    assert {c: len(v) for c, v in got.items()} == {"email": 1, "webex": 1, "teams": 0, "webhook": 1}
    assert await sim.requests(path=r"^/teams/") == [], "the literal reference is never called"

    health = app_functions["health_check"].get_user_function()
    for _ in range(3):  # every minute in Azure: the admins hear about it once
        await health(TimerRequest(past_due=False))
    got = await delivered(sim)
    ops = [r for r in got["webhook"] if r["json"].get("kind") == "configuration_problem"]
    assert len(ops) == 1
    assert any("TEAMS_WEBHOOK_URL" in line for line in ops[0]["json"]["lines"])
    assert "kv-secretive" not in str(ops[0]["json"])
    mails = [m for m in (await sim.state())["sent_mails"] if "partly misconfigured" in m["message"]["subject"]]
    assert len(mails) == 1
    webex = [m for m in (await sim.state())["webex_messages"] if "partly misconfigured" in m.get("markdown", "")]
    assert len(webex) == 1
    assert got["teams"] == []


async def test_kv_literal_access_token_is_never_sent_as_a_bearer_token(
    sim: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio
    import io
    import json

    from shared.cli.main import main

    monkeypatch.setenv("WEBEX_ACCESS_TOKEN", REF.format("webex-access-token"))
    out, err = io.StringIO(), io.StringIO()
    code = await asyncio.get_running_loop().run_in_executor(None, main, ["check", "--json"], out, err)
    assert code == 1, err.getvalue()
    verdicts = {c["check"]: c["verdict"] for c in json.loads(out.getvalue())["checks"]}
    assert verdicts["webex.sync_status"] == "not_configured"
    assert verdicts["config.channels"] == "misconfigured"
    webex_calls = await sim.requests(path=r"^/webex")
    assert webex_calls == [], "the literal reference text never reaches Webex"
