"""Every verdict of the Webex checks (status call, SCIM) and of reading them together, with fakes
and an httpx MockTransport: the HTTP shapes are the clients' (shared.clients.webex_*), literal values."""

from __future__ import annotations

from datetime import timedelta

import httpx

from shared.checks.deps import WebexStatusMemory
from shared.checks.report import CheckResult
from shared.checks.webex import DEFAULT_429_BACKOFF, check_webex_scim, check_webex_status, read_together
from shared.clients.webex_auth import WebexAuthExpired
from shared.core.errors import TransientError
from tests.unit.checks.fakes import (
    WHEN,
    FakeAuth,
    clients,
    scim_ok,
    scim_status,
    settings,
    status_401,
    status_ok,
    webex,
)


async def test_status_healthy() -> None:
    http, seen = webex(status_ok())
    r = await check_webex_status(clients(http=http))
    assert (r.name, r.verdict, r.evidence, r.app_key, r.owed) == (
        "webex.sync_status",
        "healthy",
        'HTTP 200; trackingid ATLAS_ok; {"status":"ENABLED"}',
        "integration",
        (),
    )
    assert seen[0].headers["Authorization"] == "Bearer tok-1"


async def test_status_without_a_token_is_not_configured() -> None:
    http, seen = webex(status_ok())
    r = await check_webex_status(clients(http=http, auth=FakeAuth(None)))
    assert (r.verdict, r.evidence, r.elapsed_ms) == (
        "not_configured",
        "WEBEX_ACCESS_TOKEN (or a Webex service app) is not set",
        0.0,
    )
    assert seen == []


async def test_expired_authorization_owes_one_notice_per_dead_token() -> None:
    expired = WebexAuthExpired("invalid_grant: refresh token revoked", origin="fp-123", status=400)
    r = await check_webex_status(clients(auth=FakeAuth(expired)))
    assert r.verdict == "authorization_expired"
    (owed,) = r.owed
    assert (owed.kind, owed.title, owed.once_key, owed.evidence, owed.log_when_sent) == (
        "webex_authorization_expired",
        "The Webex sync remediator's Webex authorization expired",
        "webex-auth-expired:fp-123",
        "invalid_grant: refresh token revoked",
        False,
    )
    assert owed.lines == (
        "Re-authorize the service app in Control Hub → Management → Apps → Service apps, then store the new refresh "
        "token (Key Vault secret or app setting, as deployed).",
        "Until then the remediator cannot confirm whether Webex directory sync works.",
    )


async def test_token_endpoint_throttled_is_degraded() -> None:
    r = await check_webex_status(clients(auth=FakeAuth(TransientError("token endpoint 429", retry_after=120.0))))
    assert (r.verdict, r.evidence, r.retry_after) == ("degraded", "Webex token: token endpoint 429", 120.0)


async def test_a_refused_token_is_renewed_once() -> None:
    http, seen = webex([status_401(), status_ok()])
    auth = FakeAuth("tok-1", "tok-2", refreshable=True)
    r = await check_webex_status(clients(http=http, auth=auth))
    assert r.verdict == "healthy"
    assert auth.renewals == 1
    assert [q.headers["Authorization"] for q in seen] == ["Bearer tok-1", "Bearer tok-2"]
    assert (
        r.evidence == 'HTTP 200; trackingid ATLAS_ok; earlier failed calls: trackingid ATLAS_401; {"status":"ENABLED"}'
    )


async def test_a_static_token_is_not_renewed() -> None:
    http, seen = webex(status_401())
    auth = FakeAuth("tok-1", refreshable=False)
    r = await check_webex_status(clients(http=http, auth=auth))
    assert (r.verdict, auth.renewals, len(seen)) == ("unauthorized", 0, 1)


async def test_the_memory_of_a_refusing_endpoint_stops_the_renewal() -> None:
    memory = WebexStatusMemory()
    memory.refuses_our_token = True
    http, seen = webex(status_401())
    auth = FakeAuth("tok-1", "tok-2", refreshable=True)
    r = await check_webex_status(clients(http=http, auth=auth, memory=memory))
    assert (r.verdict, auth.renewals, len(seen)) == ("unauthorized", 0, 1)


async def test_consent_missing_is_the_tenants() -> None:
    http, _ = webex(status_401("701018"))
    r = await check_webex_status(clients(http=http, auth=FakeAuth("tok-1", "tok-2", refreshable=True)))
    assert r.verdict == "consent_missing"


async def test_429_without_retry_after_is_handed_back_with_the_default() -> None:
    http, seen = webex(httpx.Response(429, headers={"trackingid": "ATLAS_t"}))
    r = await check_webex_status(clients(http=http))
    assert (r.verdict, r.retry_after) == ("degraded", DEFAULT_429_BACKOFF)
    assert len(seen) == 3, "stamina (test mode: 3 attempts) retried in process"


async def test_503_with_retry_after_keeps_its_hint() -> None:
    http, _ = webex(httpx.Response(503, headers={"Retry-After": "7"}))
    r = await check_webex_status(clients(http=http))
    assert (r.verdict, r.retry_after) == ("degraded", 7.0)


# ------------------------------------------------------------------ SCIM


async def test_scim_healthy_agrees_with_a_healthy_status() -> None:
    http, seen = webex(scim=scim_ok(3))
    r = await check_webex_scim(clients(http=http), "healthy")
    assert (r.name, r.verdict, r.evidence, r.owed) == (
        "webex.scim",
        "healthy",
        "HTTP 200; org answers (3 users); agrees with the status call",
        (),
    )
    assert seen[0].url.params["count"] == "1"


async def test_scim_healthy_says_a_401_from_status_is_consent_not_us() -> None:
    http, _ = webex(scim=scim_ok(1))
    r = await check_webex_scim(clients(http=http), "consent_missing")
    assert r.evidence == (
        "HTTP 200; org answers (1 users); our token reads the org, so the status 401 is the tenant's consent, not us"
    )


async def test_scim_refusing_contradicts_a_healthy_status() -> None:
    http, _ = webex(scim=scim_status(401))
    r = await check_webex_scim(clients(http=http), "healthy")
    assert r.verdict == "unauthorized"
    assert r.evidence == (
        'HTTP 401; trackingid ROUTER_401; {"message": "nope"}; contradicts the status call: SCIM refuses the same token'
    )


async def test_scim_without_its_scope_owes_one_notice() -> None:
    http, _ = webex(scim=scim_status(403, "Missing required scope: identity:people_read"))
    r = await check_webex_scim(clients(http=http), None)
    assert r.verdict == "misconfigured"
    evidence = (
        "HTTP 403; trackingid ROUTER_403; 403: the token lacks the SCIM scope (identity:people_read) or is not of "
        "this org; Missing required scope: identity:people_read"
    )
    assert r.evidence == evidence
    (owed,) = r.owed
    assert (owed.kind, owed.title, owed.once_key, owed.evidence, owed.log_when_sent) == (
        "webex_scim_misconfigured",
        "The Webex SCIM check is misconfigured",
        "webex-scim-misconfigured",
        evidence,
        True,
    )


async def test_scim_without_a_token_is_not_configured() -> None:
    r = await check_webex_scim(clients(auth=FakeAuth(None)), None)
    assert (r.verdict, r.evidence) == ("not_configured", "no Webex token configured")


async def test_scim_with_an_expired_authorization() -> None:
    expired = WebexAuthExpired("invalid_grant", origin="fp")
    r = await check_webex_scim(clients(auth=FakeAuth(expired)), None)
    assert r.verdict == "authorization_expired"
    assert r.owed == (), "the status check owes that notice, once"


async def test_scim_with_a_throttled_token_endpoint_is_degraded() -> None:
    r = await check_webex_scim(clients(auth=FakeAuth(TransientError("token endpoint 503"))), None)
    assert (r.verdict, r.evidence) == ("degraded", "token endpoint 503")


async def test_scim_canary_says_whether_a_sync_ran_since() -> None:
    canary = "user-1"

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/Users"):
            return scim_ok(2)
        return httpx.Response(200, json={"meta": {"lastModified": "2026-11-29T08:30:15.0012340+00:00"}})

    cfg = settings(webex_scim_canary_user_id=canary)
    http, _ = webex(scim=answer)
    moved = await check_webex_scim(clients(http=http, cfg=cfg), "healthy", since=WHEN - timedelta(minutes=5))
    assert moved.evidence == (
        "HTTP 200; org answers (2 users); agrees with the status call; canary lastModified "
        "2026-11-29T08:30:15.001234Z (synced since the incident opened)"
    )
    still = await check_webex_scim(clients(http=webex(scim=answer)[0], cfg=cfg), "healthy", since=WHEN)
    assert still.evidence.endswith("(no sync seen since)")
    plain = await check_webex_scim(clients(http=webex(scim=answer)[0], cfg=cfg), "healthy")
    assert plain.evidence.endswith("canary lastModified 2026-11-29T08:30:15.001234Z")


# ------------------------------------------------------------------ read together


def _status(verdict: str) -> CheckResult:
    return CheckResult("webex.sync_status", verdict, "HTTP 401; trackingid ATLAS_1", 1.0, app_key="integration")


def _scim(verdict: str) -> CheckResult:
    return CheckResult("webex.scim", verdict, "HTTP 200", 1.0, app_key="integration")


def test_status_refusing_a_token_scim_accepts_is_remembered_and_owes_a_notice() -> None:
    memory = WebexStatusMemory()
    r = read_together(memory, _status("unauthorized"), _scim("healthy"))
    assert (r.verdict, r.evidence, r.ok) == (
        "token_not_accepted",
        "HTTP 401; trackingid ATLAS_1; the status endpoint does not accept this token (SCIM: healthy)",
        True,
    )
    assert memory.refuses_our_token is True
    (owed,) = r.owed
    assert (owed.kind, owed.once_key, owed.evidence, owed.log_when_sent) == (
        "webex_status_token_not_accepted",
        "webex-status-token-not-accepted",
        "HTTP 401; trackingid ATLAS_1",
        True,
    )


def test_status_refusing_while_scim_cannot_tell_is_not_remembered() -> None:
    memory = WebexStatusMemory()
    r = read_together(memory, _status("unauthorized"), _scim("degraded"))
    assert (r.verdict, r.owed, memory.refuses_our_token) == ("token_not_accepted", (), False)
    assert r.evidence.endswith("(SCIM: degraded)")


def test_both_refusing_is_our_token_and_forgets_the_refusal() -> None:
    memory = WebexStatusMemory()
    memory.refuses_our_token = True
    status = _status("unauthorized")
    assert read_together(memory, status, _scim("unauthorized")) is status
    assert memory.refuses_our_token is False


def test_other_status_verdicts_pass_through() -> None:
    memory = WebexStatusMemory()
    memory.refuses_our_token = True
    status = _status("healthy")
    assert read_together(memory, status, _scim("healthy")) is status
    assert memory.refuses_our_token is True
