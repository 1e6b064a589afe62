"""Webex service-app tokens against the simulator's token endpoint, Key Vault stand-in and Azurite:
cache until near expiry, refresh on 401, rotated refresh tokens written back, a revoked one ending in
one clear notice instead of a crash loop, and no token in any log line."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from shared.core.clock import clock

TOKEN_PATH = "/webexapis/v1/access_token$"
STATUS_PATH = "/WebexApplications/status$"


async def _fresh(monkeypatch: pytest.MonkeyPatch, **env: str) -> Any:
    from shared.app.runtime import get_services, reset_services
    from shared.core.settings import reset_settings

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    reset_settings()
    await reset_services()
    return await get_services()


async def _store_in_vault(sim: Any, app_creds: dict[str, str]) -> None:
    """The service app's refresh token and client secret as Key Vault secrets."""
    await sim.set_secret("wx-refresh", app_creds["WEBEX_REFRESH_TOKEN"])
    await sim.set_secret("wx-secret", app_creds["WEBEX_CLIENT_SECRET"])


async def _fresh_from_vault(
    monkeypatch: pytest.MonkeyPatch, app_creds: dict[str, str], services_env: dict[str, str]
) -> Any:
    """Services that read both secrets from the vault (:func:`_store_in_vault`), none from settings."""
    monkeypatch.delenv("WEBEX_REFRESH_TOKEN", raising=False)
    monkeypatch.delenv("WEBEX_CLIENT_SECRET", raising=False)
    return await _fresh(
        monkeypatch,
        WEBEX_CLIENT_ID=app_creds["WEBEX_CLIENT_ID"],
        WEBEX_KEY_VAULT_URL=services_env["SIMULATOR_URL"],
        WEBEX_REFRESH_TOKEN_SECRET="wx-refresh",
        WEBEX_CLIENT_SECRET_SECRET="wx-secret",
    )


async def _status(svc: Any) -> Any:
    from tests.check_helpers import webex_status

    return await webex_status(svc)


async def test_static_token_is_the_simple_option(sim: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    svc = await _fresh(monkeypatch)
    assert (await svc.webex_auth()).mode == "static"
    assert (await _status(svc)).verdict == "healthy"
    assert await sim.requests(path=TOKEN_PATH) == [], "no refresh without a service app"


async def test_service_app_token_is_cached_until_shortly_before_expiry(
    sim: Any, app_creds: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    await sim.webex_tokens(access_lifetime=3600)
    svc = await _fresh(monkeypatch, **app_creds)
    assert (await svc.webex_auth()).mode == "service_app"
    for _ in range(3):
        assert (await _status(svc)).verdict == "healthy"
    (refresh,) = await sim.requests(path=TOKEN_PATH, method="POST")
    assert refresh["form"] == {
        "grant_type": "refresh_token",
        "client_id": app_creds["WEBEX_CLIENT_ID"],
        "client_secret": "<redacted>",
        "refresh_token": "<redacted>",
    }
    statuses = await sim.requests(path=STATUS_PATH)
    assert len(statuses) == 3 and all(r["token_valid"] for r in statuses)

    clock.advance(3600 - 5 * 60 - 30)  # still before the renewal margin (5 min)
    assert (await _status(svc)).verdict == "healthy"
    assert len(await sim.requests(path=TOKEN_PATH)) == 1
    clock.advance(60)  # inside the margin: renewed before it expires
    assert (await _status(svc)).verdict == "healthy"
    assert len(await sim.requests(path=TOKEN_PATH)) == 2


async def test_a_refused_token_is_renewed_once_then_the_call_succeeds(
    sim: Any, app_creds: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    await sim.webex_tokens(access_lifetime=3600)
    svc = await _fresh(monkeypatch, **app_creds)
    assert (await _status(svc)).verdict == "healthy"
    await sim.advance_clock(7200)  # Webex expired the token; our cache does not know yet
    result = await _status(svc)
    assert result.verdict == "healthy"
    calls = await sim.requests(path=STATUS_PATH)
    assert [c["status"] for c in calls] == [200, 401, 200]
    assert len(await sim.requests(path=TOKEN_PATH)) == 2


async def test_rotated_refresh_token_is_kept_in_table_storage_and_preferred(
    sim: Any, app_creds: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from azure.data.tables.aio import TableClient

    from shared.clients.webex_auth import TOKEN_ROW, fingerprint

    await sim.webex_tokens(rotate=True)
    svc = await _fresh(monkeypatch, **app_creds)
    assert (await _status(svc)).verdict == "healthy"
    async with TableClient.from_connection_string(
        svc.storage.connection_string, table_name=svc.settings.incidents_table
    ) as table:
        row = await table.get_entity(svc.settings.tenant_id, TOKEN_ROW)
    assert row["token"] != app_creds["WEBEX_REFRESH_TOKEN"]
    assert row["origin"] == fingerprint(app_creds["WEBEX_REFRESH_TOKEN"])

    # A new process: the app setting still holds the retired token; the stored one must be used.
    svc = await _fresh(monkeypatch)
    assert (await _status(svc)).verdict == "healthy"
    assert [r["status"] for r in await sim.requests(path=TOKEN_PATH)] == [200, 200]


async def test_key_vault_secrets_are_read_and_the_rotated_token_written_back(
    sim: Any,
    app_creds: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    services_env: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    # Importing function_app (any earlier test in this worker) sets the SDK loggers to WARNING.
    caplog.set_level(logging.DEBUG, logger="azure")
    await _store_in_vault(sim, app_creds)
    await sim.webex_tokens(rotate=True)
    svc = await _fresh_from_vault(monkeypatch, app_creds, services_env)
    first = await _status(svc)
    assert first.verdict == "healthy", (first.evidence, await sim.requests(path="^/secrets/|token"))

    vault = (await sim.state())["key_vault"]
    assert len(vault["wx-refresh"]) == 2, "the rotated refresh token is a new secret version"
    assert vault["wx-refresh"][-1]["value"] != app_creds["WEBEX_REFRESH_TOKEN"]
    calls = await sim.requests(path="^/secrets/")
    assert calls[0]["status"] == 401 and not calls[0]["authorization"], "the SDK's challenge round first"
    assert all(c["token_valid"] for c in calls if c["status"] == 200)
    put = [c for c in calls if c["method"] == "PUT" and c["status"] == 200]
    assert put and put[0]["json"]["value"] == "<redacted>", "secret values are never recorded"

    svc = await _fresh(monkeypatch)  # a new process reads the new version
    assert (await _status(svc)).verdict == "healthy"
    assert [r["status"] for r in await sim.requests(path=TOKEN_PATH)] == [200, 200]
    logged = caplog.text + " ".join(str(r.args) for r in caplog.records)
    assert "/secrets/wx-refresh" in logged, "azure-core logged the vault calls (so the check below means something)"
    for version in vault["wx-refresh"]:
        assert version["value"] not in logged
    assert app_creds["WEBEX_CLIENT_SECRET"] not in logged


async def test_revoked_authorization_is_one_clear_notice_not_a_crash_loop(
    sim: Any, app_creds: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = await _fresh(monkeypatch, **app_creds)
    await sim.revoke_webex_tokens()
    for _ in range(3):  # three health ticks
        result = await _status(svc)
        assert result.verdict == "authorization_expired"
        assert "re-authorize the service app in Control Hub" in result.evidence
        assert "HTTP 400" in result.evidence or "answered 400" in result.evidence
    assert len(await sim.requests(path=TOKEN_PATH)) == 1, "a refused refresh token is not sent again"
    notices = [m for m in (await sim.state())["webex_messages"] if "authorization expired" in m["markdown"]]
    assert len(notices) == 1
    mails = [m for m in (await sim.state())["sent_mails"] if "authorization expired" in m["message"]["subject"]]
    assert len(mails) == 1

    # Another process meets the same dead token: still no second notice.
    svc = await _fresh(monkeypatch)
    assert (await _status(svc)).verdict == "authorization_expired"
    assert len([m for m in (await sim.state())["webex_messages"] if "authorization expired" in m["markdown"]]) == 1


async def test_refresh_token_expiry_follows_the_simulator_clock(
    sim: Any, app_creds: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    await sim.webex_tokens(access_lifetime=600, refresh_lifetime=3600)
    svc = await _fresh(monkeypatch, **app_creds)
    from tests.check_helpers import webex_status

    assert (await webex_status(svc, notify=False)).verdict == "healthy"
    await sim.advance_clock(2 * 3600)
    clock.advance(2 * 3600)
    assert (await webex_status(svc, notify=False)).verdict == "authorization_expired"
    assert (await sim.state())["webex_messages"] == [], "quiet callers (the CLI) send nothing"


async def test_no_token_or_secret_reaches_the_logs(
    sim: Any, app_creds: dict[str, str], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await sim.webex_tokens(rotate=True, access_lifetime=600)
    svc = await _fresh(monkeypatch, **app_creds)
    assert (await _status(svc)).verdict == "healthy"
    access = await (await svc.webex_auth()).access_token()
    await sim.advance_clock(3600)
    assert (await _status(svc)).verdict == "healthy"  # 401, renewal, rotation
    await sim.revoke_webex_tokens()
    clock.advance(3600)
    assert (await _status(svc)).verdict == "authorization_expired"
    assert caplog.records, "the flow logs something"
    text = caplog.text + " ".join(str(r.args) for r in caplog.records)
    for secret in (access, app_creds["WEBEX_REFRESH_TOKEN"], app_creds["WEBEX_CLIENT_SECRET"]):
        assert secret and secret not in text
    vault_free = (await sim.state())["webex_tokens"]
    assert vault_free["refresh_tokens"] == 0


async def test_throttled_token_endpoint_reschedules_with_its_retry_after(
    sim: Any, app_creds: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    await sim.add_fault(TOKEN_PATH, status=429, retry_after=120, times=None)
    svc = await _fresh(monkeypatch, **app_creds)
    result = await _status(svc)
    assert result.verdict == "degraded" and result.retry_after == 120
    assert "429" in result.evidence and "trackingid ROUTER_" in result.evidence
    assert len(await sim.requests(path=TOKEN_PATH)) == 1, "a 2-minute wait is not slept in process"
    assert await sim.requests(path=STATUS_PATH) == []


async def test_rotated_token_survives_a_failed_write_back(
    sim: Any, app_creds: dict[str, str], monkeypatch: pytest.MonkeyPatch, services_env: dict[str, str]
) -> None:
    await _store_in_vault(sim, app_creds)
    await sim.webex_tokens(rotate=True, access_lifetime=600)
    await sim.add_fault("^/secrets/wx-refresh$", method="PUT", status=403, times=1)  # e.g. a role missing
    svc = await _fresh_from_vault(monkeypatch, app_creds, services_env)
    assert (await _status(svc)).verdict == "healthy"
    assert len((await sim.state())["key_vault"]["wx-refresh"]) == 1, "the write-back failed"

    clock.advance(3600)  # the old refresh token is retired: only the one kept in memory works
    await sim.advance_clock(3600)
    assert (await _status(svc)).verdict == "healthy"
    assert [r["status"] for r in await sim.requests(path=TOKEN_PATH)] == [200, 200]
    assert len((await sim.state())["key_vault"]["wx-refresh"]) >= 2, "stored on the next refresh"


async def test_first_token_pair_from_the_applications_endpoint_then_refresh(
    sim: Any, app_creds: dict[str, str], monkeypatch: pytest.MonkeyPatch, services_env: dict[str, str]
) -> None:
    """The bootstrap an admin does once ("Generate tokens"): the pair's refresh token is all the app
    needs from then on."""
    import ssl

    import httpx

    trust = ssl.create_default_context(cafile=services_env["SSL_CERT_FILE"])
    async with httpx.AsyncClient(verify=trust) as c:
        r = await c.post(
            f"{services_env['WEBEX_API_BASE']}/applications/Y2lzY29zcGFyazovL3VzL0FQUExJQ0FUSU9OL2FiYw/token",
            headers={"Authorization": f"Bearer {services_env['WEBEX_ACCESS_TOKEN']}"},
            json={"clientId": app_creds["WEBEX_CLIENT_ID"], "clientSecret": app_creds["WEBEX_CLIENT_SECRET"],
                  "targetOrgId": services_env["WEBEX_ORG_ID"]},
        )  # fmt: skip
        assert r.status_code == 200, r.text
        pair = r.json()
        assert set(pair) == {"access_token", "expires_in", "refresh_token", "refresh_token_expires_in", "token_type"}
        wrong = await c.post(
            f"{services_env['WEBEX_API_BASE']}/applications/x/token",
            headers={"Authorization": f"Bearer {services_env['WEBEX_ACCESS_TOKEN']}"},
            json={"clientId": app_creds["WEBEX_CLIENT_ID"], "clientSecret": "nope", "targetOrgId": "x"},
        )
        assert wrong.status_code == 401
    recorded = await sim.requests(path="/applications/.*/token$", method="POST")
    assert [r["status"] for r in recorded] == [200, 401]
    assert all(r["json"]["clientSecret"] == "<redacted>" for r in recorded), "secrets are never recorded"

    svc = await _fresh(monkeypatch, **{**app_creds, "WEBEX_REFRESH_TOKEN": pair["refresh_token"]})
    assert (await _status(svc)).verdict == "healthy"
    (refresh,) = await sim.requests(path=TOKEN_PATH, method="POST")
    assert refresh["status"] == 200, "the generated refresh token is accepted by /access_token"


async def test_health_timer_meets_an_expired_authorization_every_tick_and_notifies_once(
    sim: Any, app_creds: dict[str, str], monkeypatch: pytest.MonkeyPatch, app_functions: dict[str, Any]
) -> None:
    from azure.functions.timer import TimerRequest

    await _fresh(monkeypatch, **app_creds)
    await sim.revoke_webex_tokens()
    tick = app_functions["health_check"].get_user_function()
    for _ in range(5):  # five minutes of the default schedule: no exception, no loop, one notice
        await tick(TimerRequest(past_due=False))
    state = await sim.state()
    assert len([m for m in state["webex_messages"] if "authorization expired" in m["markdown"]]) == 1
    assert len([m for m in state["sent_mails"] if "authorization expired" in m["message"]["subject"]]) == 1
    assert len(await sim.requests(path=TOKEN_PATH)) == 1


async def test_after_reauthorization_checks_recover_and_a_later_expiry_notifies_again(
    sim: Any, app_creds: dict[str, str], monkeypatch: pytest.MonkeyPatch, services_env: dict[str, str]
) -> None:
    import ssl

    import httpx

    svc = await _fresh(monkeypatch, **app_creds)
    await sim.revoke_webex_tokens()
    assert (await _status(svc)).verdict == "authorization_expired"

    # The admin re-authorizes and stores the new refresh token (here: the app setting).
    async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=services_env["SSL_CERT_FILE"])) as c:
        r = await c.post(
            f"{services_env['WEBEX_API_BASE']}/applications/app-1/token",
            headers={"Authorization": f"Bearer {services_env['WEBEX_ACCESS_TOKEN']}"},
            json={"clientId": app_creds["WEBEX_CLIENT_ID"], "clientSecret": app_creds["WEBEX_CLIENT_SECRET"],
                  "targetOrgId": services_env["WEBEX_ORG_ID"]},
        )  # fmt: skip
    svc = await _fresh(monkeypatch, WEBEX_REFRESH_TOKEN=r.json()["refresh_token"])
    assert (await _status(svc)).verdict == "healthy"

    await sim.revoke_webex_tokens()
    clock.advance(30 * 24 * 3600)
    assert (await _status(svc)).verdict == "authorization_expired"
    notices = [m for m in (await sim.state())["webex_messages"] if "authorization expired" in m["markdown"]]
    assert len(notices) == 2, "one notice per dead refresh token"
