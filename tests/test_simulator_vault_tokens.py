"""The simulator's Key Vault and Webex token endpoints speak the real protocols: Key Vault's 401
challenge and error envelope, Webex's form-encoded refresh grant and its error answers."""

from __future__ import annotations

import ssl
from typing import Any

import httpx


def _client(env: dict[str, str]) -> httpx.AsyncClient:
    return httpx.AsyncClient(verify=ssl.create_default_context(cafile=env["SSL_CERT_FILE"]), timeout=10)


async def test_key_vault_challenge_and_errors(sim: Any, services_env: dict[str, str]) -> None:
    base = services_env["SIMULATOR_URL"]
    async with _client(services_env) as c:
        r = await c.get(f"{base}/secrets/anything", params={"api-version": "7.5"})
        assert r.status_code == 401
        challenge = r.headers["WWW-Authenticate"]
        assert challenge.startswith("Bearer authorization=")
        assert services_env["TENANT_ID"] in challenge and 'resource="https://vault.azure.net"' in challenge
        r = await c.get(f"{base}/secrets/anything", headers={"Authorization": "Bearer made-up"},
                        params={"api-version": "7.5"})  # fmt: skip
        assert r.status_code == 401 and r.json()["error"]["code"] == "Unauthorized"
        assert (await c.get(f"{base}/secrets/anything")).status_code == 400, "api-version is required"


async def test_token_endpoint_answers_like_webex(sim: Any, services_env: dict[str, str]) -> None:
    url = f"{services_env['WEBEX_API_BASE']}/access_token"
    await sim.reset(webex_client_id="Cabc", webex_client_secret="s3cret", webex_refresh_token="rt-1")
    async with _client(services_env) as c:
        good = await c.post(url, data={"grant_type": "refresh_token", "client_id": "Cabc", "client_secret": "s3cret",
                                       "refresh_token": "rt-1"})  # fmt: skip
        assert good.status_code == 200
        assert good.json()["token_type"] == "Bearer" and good.json()["expires_in"] > 0
        assert good.json()["refresh_token"] == "rt-1", "no rotation unless asked"
        bad_grant = await c.post(url, data={"grant_type": "refresh_token", "client_id": "Cabc",
                                            "client_secret": "s3cret", "refresh_token": "rt-unknown"})  # fmt: skip
        assert bad_grant.status_code == 400 and "refresh token" in bad_grant.json()["message"]
        assert bad_grant.headers["trackingid"] == bad_grant.json()["trackingId"]
        bad_client = await c.post(url, data={"grant_type": "refresh_token", "client_id": "Cabc",
                                             "client_secret": "wrong", "refresh_token": "rt-1"})  # fmt: skip
        assert bad_client.status_code == 401
        unsupported = await c.post(url, data={"grant_type": "password"})
        assert unsupported.status_code == 400
    recorded = await sim.requests(path="/access_token$")
    assert all(r["form"].get("client_secret") in (None, "<redacted>") for r in recorded)
    assert all(r["form"].get("refresh_token") in (None, "<redacted>") for r in recorded)
