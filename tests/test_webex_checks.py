"""Every Webex verdict with its evidence, the SCIM second opinion, the admin-consent grant check and
throttling (429 with a short, a long and no ``Retry-After``) — all against the simulator."""

from __future__ import annotations

from typing import Any

import pytest

STATUS = "/WebexApplications/status$"
SCIM = "/identity/scim/.*/v2/Users$"


async def _report(monkeypatch: pytest.MonkeyPatch | None = None, **env: str) -> dict[str, Any]:
    from shared.app.runtime import get_services, reset_services
    from shared.core.settings import reset_settings
    from tests.check_helpers import checked

    if monkeypatch is not None:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
    reset_settings()
    await reset_services()
    svc = await get_services()
    report = await checked(svc)
    return {r.name: r for r in report.results}


async def test_healthy_tenant_every_check_agrees(sim: Any) -> None:
    rows = await _report()
    assert {name: r.verdict for name, r in rows.items()} == {
        "graph.service_principal.integration": "healthy",
        "graph.service_principal.identity": "healthy",
        "graph.consent_grant.integration": "healthy",
        "webex.sync_status": "healthy",
        "webex.scim": "healthy",
    }
    assert "agrees with the status call" in rows["webex.scim"].evidence
    assert "org answers (3 users)" in rows["webex.scim"].evidence
    (scim,) = await sim.requests(path=SCIM)
    assert scim["query"] == {"count": "1"}, "one user is enough to know the org answers"
    grants = await sim.requests(path="/oauth2PermissionGrants$")
    sp_id = rows["graph.consent_grant.integration"].object_id
    assert grants[0]["query"]["$filter"] == f"clientId eq '{sp_id}'"


async def test_consent_revoked_grant_check_and_scim_say_it_is_the_tenant(sim: Any) -> None:
    await sim.revoke()
    rows = await _report()
    assert rows["graph.service_principal.integration"].verdict == "healthy", "the SP itself is still there"
    assert rows["graph.consent_grant.integration"].verdict == "consent_missing"
    status = rows["webex.sync_status"]
    assert status.verdict == "consent_missing"
    assert "HTTP 401" in status.evidence and "trackingid ATLAS_" in status.evidence and "701018" in status.evidence
    assert rows["webex.scim"].verdict == "healthy"
    assert "the tenant's consent, not us" in rows["webex.scim"].evidence


@pytest.mark.parametrize(
    ("fault", "verdict", "evidence"),
    [
        # SCIM accepts the same token: the status endpoint refuses it, which says nothing about the tenant
        (
            {"status": 401, "body": {"error": {"key": "401", "message": [{"code": "100001"}]}}},
            "token_not_accepted",
            "100001",
        ),
        ({"status": 403}, "token_not_accepted", "HTTP 403"),
        ({"status": 503, "times": None}, "degraded", "HTTP 503"),
        ({"drop": True, "times": None}, "degraded", "unreachable"),
        ({"status": 404}, "unknown", "HTTP 404"),
        ({"status": 200, "malformed": True, "body": "<html>maintenance</html>"}, "unknown", "maintenance"),
    ],
)
async def test_status_verdicts_with_evidence(sim: Any, fault: dict[str, Any], verdict: str, evidence: str) -> None:
    await sim.add_fault(STATUS, **fault)
    rows = await _report()
    assert rows["webex.sync_status"].verdict == verdict
    assert evidence in rows["webex.sync_status"].evidence


async def test_status_401_contradicted_by_scim(sim: Any) -> None:
    await sim.add_fault(STATUS, status=401, body={"message": "bad token"}, times=None)
    rows = await _report()
    assert rows["webex.sync_status"].verdict == "token_not_accepted"
    assert "the status endpoint does not accept this token" in rows["webex.sync_status"].evidence
    assert "the status endpoint does not accept it" in rows["webex.scim"].evidence


async def test_status_and_scim_both_refusing_is_our_token(sim: Any) -> None:
    await sim.add_fault(STATUS, status=401, body={"message": "bad token"}, times=None)
    await sim.add_fault(SCIM, status=401, times=None)
    rows = await _report()
    assert rows["webex.sync_status"].verdict == "unauthorized", "SCIM refuses it too: the token is the problem"
    assert not rows["webex.sync_status"].ok


async def test_scim_refusing_the_token_contradicts_a_healthy_status(sim: Any) -> None:
    await sim.add_fault(SCIM, status=401)
    rows = await _report()
    assert rows["webex.sync_status"].verdict == "healthy"
    assert rows["webex.scim"].verdict == "unauthorized"
    assert "contradicts the status call: SCIM refuses" in rows["webex.scim"].evidence
    assert "trackingid ROUTER_" in rows["webex.scim"].evidence


async def test_not_configured_without_a_token(sim: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEBEX_ACCESS_TOKEN")
    rows = await _report()
    assert rows["webex.sync_status"].verdict == "not_configured"
    assert "webex.scim" not in rows
    assert await sim.requests(path=STATUS) == []


async def test_canary_user_shows_whether_sync_ran_since_the_incident(sim: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import uuid

    from shared.app.runtime import get_services
    from shared.core.clock import clock
    from tests.check_helpers import checked

    canary = str(uuid.uuid5(uuid.NAMESPACE_URL, "sim-user-1"))
    await _report(monkeypatch, WEBEX_SCIM_CANARY_USER_ID=canary)
    await sim.delete("integration")
    svc = await get_services()
    opened = clock.now()
    await sim.advance_clock(120)
    broken = {r.name: r for r in (await checked(svc, since=opened)).results}
    assert "no sync seen since" in broken["webex.scim"].evidence
    await sim.consent()
    await sim.advance_clock(60)
    fixed = {r.name: r for r in (await checked(svc, since=opened)).results}
    assert "synced since the incident opened" in fixed["webex.scim"].evidence
    assert await sim.requests(path=f"/v2/Users/{canary}$")


async def test_429_short_retry_after_is_honoured_and_tracking_ids_kept(sim: Any) -> None:
    await sim.add_fault(STATUS, status=429, retry_after=2, headers={"trackingid": "ATLAS_throttled_1"})
    rows = await _report()
    status = rows["webex.sync_status"]
    assert status.verdict == "healthy"
    assert [c["status"] for c in await sim.requests(path=STATUS)] == [429, 200]
    assert "earlier failed calls: trackingid ATLAS_throttled_1" in status.evidence


async def test_429_long_retry_after_is_not_slept_but_handed_back(sim: Any) -> None:
    await sim.add_fault(STATUS, status=429, retry_after=3600, times=None)
    rows = await _report()
    status = rows["webex.sync_status"]
    assert status.verdict == "degraded" and status.retry_after == 3600
    assert len(await sim.requests(path=STATUS)) == 1, "no in-process retry for a one-hour wait"


async def test_429_without_retry_after_backs_off_then_uses_the_default(sim: Any) -> None:
    from shared.checks.webex import DEFAULT_429_BACKOFF

    await sim.add_fault(STATUS, status=429, times=None, body="")
    rows = await _report()
    status = rows["webex.sync_status"]
    calls = await sim.requests(path=STATUS)
    assert len(calls) == 3, "stamina's backoff retried in process"
    assert status.verdict == "degraded" and status.retry_after == DEFAULT_429_BACKOFF
    ids = [c for c in status.evidence.split() if c.startswith("ATLAS_")]
    assert len(set(ids)) == 3, "every failed call's trackingid is kept"


async def test_scim_without_its_scope_is_no_reason_to_stay_unhealthy(sim: Any) -> None:
    from shared.app.runtime import get_services
    from tests.check_helpers import checked

    await sim.add_fault(SCIM, status=403)
    report = await checked(await get_services())
    scim = next(r for r in report.results if r.name == "webex.scim")
    assert scim.verdict == "misconfigured"
    assert "lacks the SCIM scope" in scim.evidence
    assert report.healthy


async def test_grant_check_without_graph_permission_is_skipped_not_failed(sim: Any) -> None:
    from shared.app.runtime import get_services
    from tests.check_helpers import checked

    await sim.add_fault("/oauth2PermissionGrants$", status=403)
    report = await checked(await get_services())
    grant = next(r for r in report.results if r.name == "graph.consent_grant.integration")
    assert grant.verdict == "not_configured" and "Directory.Read.All" in grant.evidence
    assert report.healthy


@pytest.mark.parametrize(
    ("body", "verdict"),
    [
        ({"orgId": "o", "status": "ENABLED", "applications": [{"appId": "a", "status": "ENABLED"}]}, "healthy"),
        ({"State": "Active"}, "healthy"),
        # issue 14: the endpoint is undocumented, so a body we cannot read is neither healthy nor broken
        ({}, "unknown"),
        (None, "unknown"),
        ({"orgId": "o", "syncHealth": {"indicator": "GREEN"}}, "unknown"),
        ([{"status": "ENABLED"}], "unknown"),
        ({"status": 1}, "unknown"),
        ({"status": "ERROR"}, "problem_reported"),
        ({"status": "ENABLED", "applications": [{"appId": "a", "Status": "DISABLED"}]}, "problem_reported"),
        ({"State": "Failed"}, "problem_reported"),
        ({"errorCode": "701018"}, "consent_missing"),  # a 2xx that still carries the seed's code
        ({"error": {"code": "100001"}}, "problem_reported"),
        ("not json{", "unknown"),
        ('{"status": "ENABLED", "applications": [', "unknown"),  # truncated
        ("x" * 100_000, "unknown"),  # oversized
        ({"status": "ENABLED", "applications": [{"status": "ENABLED"}] * 5000}, "unknown"),  # cut at 4 KiB
        ({"status": {"$ne": "ERROR"}}, "unknown"),  # hostile: not a word
        ({"status": "ENABLED\u202e"}, "unknown"),  # hostile: a bidi control makes it another word
    ],
)
def test_a_2xx_is_healthy_only_when_its_body_says_nothing_bad(body: Any, verdict: str) -> None:
    import json as _json

    import httpx

    from shared.clients.webex_status import interpret

    content = b"" if body is None else (body.encode() if isinstance(body, str) else _json.dumps(body).encode())
    response = httpx.Response(200, content=content, headers={"trackingid": "ATLAS_x"})
    result = interpret(response, 1.0)
    assert result.verdict == verdict
    assert result.tracking_id == "ATLAS_x"
