"""Issue 14 (4, 6): Control Hub's undocumented status call in each simulator mode, and SCIM refusing
a bot's token — what the simulator answers, and what the checks make of it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

STATUS = "/WebexApplications/status$"


async def _status(services_env: dict[str, str], token: str) -> httpx.Response:
    from shared.clients.webex_status import status_url

    url = status_url(services_env["WEBEX_IDENTITY_BASE"], services_env["WEBEX_ORG_ID"])
    async with httpx.AsyncClient(verify=services_env["SSL_CERT_FILE"]) as http:
        return await http.get(url, headers={"Authorization": f"Bearer {token}"})


async def _scim(services_env: dict[str, str], token: str) -> httpx.Response:
    from shared.clients.webex_scim import users_url

    url = users_url(services_env["WEBEX_API_BASE"], services_env["WEBEX_ORG_ID"])
    async with httpx.AsyncClient(verify=services_env["SSL_CERT_FILE"]) as http:
        return await http.get(url, params={"count": "1"}, headers={"Authorization": f"Bearer {token}"})


async def test_admin_only_mode_refuses_bot_and_service_app_tokens(sim: Any, services_env: dict[str, str]) -> None:
    await sim.webex_status_mode("admin_only")
    admin = await _status(services_env, services_env["WEBEX_ACCESS_TOKEN"])
    bot = await _status(services_env, services_env["WEBEX_BOT_TOKEN"])
    service_app = await _status(services_env, await sim.service_app_token())
    assert admin.status_code == 200
    assert bot.status_code == 403
    assert service_app.status_code == 401
    assert "701018" not in service_app.text, "a refused token says nothing about the tenant's consent"
    assert (await _scim(services_env, await sim.service_app_token())).status_code == 200, "SCIM accepts it"


async def test_unknown_body_mode_answers_200_whatever_the_state(sim: Any, services_env: dict[str, str]) -> None:
    from shared.clients.webex_status import interpret

    await sim.webex_status_mode("unknown_body")
    healthy = await _status(services_env, services_env["WEBEX_ACCESS_TOKEN"])
    await sim.delete("integration")
    broken = await _status(services_env, services_env["WEBEX_ACCESS_TOKEN"])
    assert healthy.status_code == broken.status_code == 200
    assert healthy.json() != broken.json()
    assert interpret(healthy, 1.0).verdict == interpret(broken, 1.0).verdict == "unknown"


async def test_lagging_mode_follows_entra_minutes_late(sim: Any, services_env: dict[str, str]) -> None:
    token = services_env["WEBEX_ACCESS_TOKEN"]
    await sim.webex_status_mode("lagging", 300)
    await sim.revoke()
    assert (await _status(services_env, token)).status_code == 200, "Webex has not seen the revoke yet"
    await sim.advance_clock(299)
    assert (await _status(services_env, token)).status_code == 200
    await sim.advance_clock(2)
    assert (await _status(services_env, token)).status_code == 401
    await sim.consent()
    assert (await _status(services_env, token)).status_code == 401, "nor the consent that fixed it"
    await sim.advance_clock(301)
    assert (await _status(services_env, token)).status_code == 200
    assert (await sim.state())["webex_status_call"] == {"mode": "lagging", "lag_seconds": 300.0, "changes": 2}


@pytest.mark.parametrize("body", [{"mode": "sometimes"}, {"mode": 3}, {"mode": "lagging", "lag_seconds": -1},
                                  {"mode": "lagging", "lag_seconds": "5"}])  # fmt: skip
async def test_status_mode_control_rejects_bad_input(sim: Any, body: dict[str, Any]) -> None:
    from simulator.client import SimulatorControlError

    with pytest.raises(SimulatorControlError):
        await sim._call("POST", "/webex/status", json=body)


async def _checks(monkeypatch: pytest.MonkeyPatch, token: str) -> Any:
    from shared.app.runtime import get_services, reset_services
    from shared.core.settings import reset_settings
    from tests.check_helpers import checked

    monkeypatch.setenv("WEBEX_ACCESS_TOKEN", token)
    reset_settings()
    await reset_services()
    return await checked(await get_services())


async def test_status_refusing_our_token_is_one_notice_and_never_blocks(
    sim: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    await sim.webex_status_mode("admin_only")
    token = await sim.service_app_token()
    for _ in range(3):  # three health ticks
        report = await _checks(monkeypatch, token)
    status = next(r for r in report.results if r.name == "webex.sync_status")
    assert status.verdict == "token_not_accepted" and status.ok
    assert "does not accept this token" in status.evidence
    assert report.healthy, "Graph and SCIM say healthy: the refusal does not block"
    mails = (await sim.state())["sent_mails"]
    assert [m["message"]["subject"].strip() for m in mails] == [
        "[Webex sync remediator] The Webex status endpoint does not accept this token"
    ], "one operational notice, not one per run"


async def test_unknown_status_body_leaves_the_decision_to_graph(sim: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.app.runtime import get_services
    from tests.check_helpers import checked

    await sim.webex_status_mode("unknown_body")
    await sim.revoke()
    report = await checked(await get_services())
    verdicts = {r.name: r.verdict for r in report.results}
    assert verdicts["webex.sync_status"] == "unknown", "neither healthy nor broken"
    assert verdicts["graph.consent_grant.integration"] == "consent_missing"
    assert not report.healthy, "Graph sees the revoked consent"
    await sim.consent()
    assert (await checked(await get_services())).healthy


async def test_scim_refuses_a_bot_token_as_a_configuration_problem(
    sim: Any, monkeypatch: pytest.MonkeyPatch, services_env: dict[str, str]
) -> None:
    """Issue 14 (6): a bot's token has no ``identity:people_read``; real SCIM answers 403."""
    answer = await _scim(services_env, services_env["WEBEX_BOT_TOKEN"])
    assert answer.status_code == 403
    body = answer.json()
    assert body["message"] == "Missing required scope: identity:people_read"
    assert body["errors"] == [{"description": body["message"]}] and body["trackingId"].startswith("ROUTER_")

    for _ in range(2):
        report = await _checks(monkeypatch, services_env["WEBEX_BOT_TOKEN"])
    scim = next(r for r in report.results if r.name == "webex.scim")
    assert scim.verdict == "misconfigured", "a configuration problem, not Webex down"
    assert "identity:people_read" in scim.evidence and "HTTP 403" in scim.evidence
    assert report.healthy, "no reason to keep an incident open over it"
    subjects = [m["message"]["subject"].strip() for m in (await sim.state())["sent_mails"]]
    assert subjects == ["[Webex sync remediator] The Webex SCIM check is misconfigured"], subjects


async def test_health_timer_takes_a_lagging_701018_for_lag_when_graph_has_the_grant(sim: Any) -> None:
    """The status call still reports the revoked consent an admin has since granted again: Graph,
    the primary witness, shows the admin-consent grant, so no consent-revoked incident is opened."""
    from shared.app.health_check import run_health_check
    from shared.app.runtime import get_services
    from tests.helpers import incidents

    await sim.webex_status_mode("lagging", 300)
    await sim.revoke()
    await sim.advance_clock(400)  # Webex now reports the revoke
    await sim.consent()  # and an admin has already fixed it in Entra
    outcome = await run_health_check(await (await get_services()).health_check_deps())
    verdicts = {r.name: r.verdict for r in outcome.report.results}
    assert verdicts["webex.sync_status"] == "consent_missing"
    assert verdicts["graph.consent_grant.integration"] == "healthy"
    assert outcome.outcomes == [] and await incidents() == []


async def test_a_token_the_status_call_refuses_is_not_renewed_on_every_run(
    sim: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a service app, a 401 from the status call renews the token once; when SCIM accepts that
    token, later runs do not renew it again (one refresh per tick would be 1,440 a day)."""
    import secrets

    from shared.app.runtime import get_services, reset_services
    from shared.core.settings import reset_settings
    from tests.check_helpers import checked

    creds = {"WEBEX_CLIENT_ID": "C" + secrets.token_hex(16), "WEBEX_CLIENT_SECRET": secrets.token_hex(16),
             "WEBEX_REFRESH_TOKEN": "rt-" + secrets.token_urlsafe(24)}  # fmt: skip
    await sim.reset(**{k.lower(): v for k, v in creds.items()})
    await sim.webex_status_mode("admin_only")
    monkeypatch.delenv("WEBEX_ACCESS_TOKEN", raising=False)
    for key, value in creds.items():
        monkeypatch.setenv(key, value)
    reset_settings()
    await reset_services()
    svc = await get_services()
    for _ in range(3):
        report = await checked(svc)
    assert report.healthy
    refreshes = await sim.requests(path="/webexapis/v1/access_token$", method="POST")
    assert len(refreshes) == 2, "the first token, one renewal on the first 401, then none"


async def test_no_witness_of_the_consent_keeps_the_incident_open(sim: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The status call refuses our token and Graph cannot read the grants (no Directory.Read.All):
    nobody saw the consent, so the report is not healthy and says what to grant."""
    await sim.webex_status_mode("admin_only")
    await sim.add_fault("/oauth2PermissionGrants$", status=403, times=None)
    report = await _checks(monkeypatch, await sim.service_app_token())
    verdicts = {r.name: r.verdict for r in report.results}
    assert verdicts["webex.sync_status"] == "token_not_accepted"
    assert verdicts["graph.consent_grant.integration"] == "not_configured"
    assert verdicts["consent.witness"] == "unwitnessed"
    witness = next(r for r in report.results if r.name == "consent.witness")
    assert "Directory.Read.All" in witness.evidence and witness.app_key == "integration"
    assert not report.healthy

    await sim.clear_faults()  # Graph reads the grants again: the primary witness decides
    assert (await _checks(monkeypatch, await sim.service_app_token())).healthy
