"""run_checks over fakes: which checks run, the witness of the consent, what is owed; the report's
verdict rules (ok, healthy, first, longest_retry_after) with literal values."""

from __future__ import annotations

import pytest

from shared.checks.config_report import config_check, config_notice
from shared.checks.report import CheckResult, HealthReport, NoticeOwed
from shared.checks.run import consent_unwitnessed, run_checks
from shared.clients.webex_auth import WebexAuthExpired
from shared.core.catalogue import INTEGRATION
from tests.unit.checks.fakes import (
    FakeAuth,
    clients,
    forbidden,
    healthy_graph,
    scim_ok,
    scim_status,
    settings,
    status_401,
    status_ok,
    webex,
)


async def test_a_healthy_tenant_runs_every_check_once() -> None:
    http, seen = webex(status_ok(), scim_ok())
    report = await run_checks(clients(graph=healthy_graph(), http=http))
    assert [(r.name, r.verdict) for r in report.results] == [
        ("graph.service_principal.integration", "healthy"),
        ("graph.service_principal.identity", "healthy"),
        ("graph.consent_grant.integration", "healthy"),
        ("webex.sync_status", "healthy"),
        ("webex.scim", "healthy"),
    ]
    assert report.healthy is True and report.owed == []
    assert len(seen) == 2


async def test_only_the_apps_asked_for() -> None:
    cfg = settings()
    report = await run_checks(clients(graph=healthy_graph(), cfg=cfg), (cfg.catalogue.identity,))
    assert [r.name for r in report.results] == [
        "graph.service_principal.identity",
        "webex.sync_status",
        "webex.scim",
    ], "no grant check without the integration"


async def test_no_webex_token_skips_scim() -> None:
    http, seen = webex(status_ok(), scim_ok())
    report = await run_checks(clients(graph=healthy_graph(), http=http, auth=FakeAuth(None)))
    assert [(r.name, r.verdict) for r in report.results][-1] == ("webex.sync_status", "not_configured")
    assert report.first("webex.scim") is None and seen == []


async def test_an_expired_authorization_skips_scim_and_owes_its_notice() -> None:
    report = await run_checks(clients(graph=healthy_graph(), auth=FakeAuth(WebexAuthExpired("dead", origin="fp"))))
    assert report.first("webex.scim") is None
    assert [n.once_key for n in report.owed] == ["webex-auth-expired:fp"]
    assert report.healthy is False


async def test_status_refusing_our_token_is_read_with_scim_and_owed_once() -> None:
    http, _ = webex(status_401(), scim_ok())
    c = clients(graph=healthy_graph(), http=http)
    report = await run_checks(c)
    status = report.first("webex.sync_status")
    assert status is not None and status.verdict == "token_not_accepted"
    assert report.healthy is True
    assert [n.kind for n in report.owed] == ["webex_status_token_not_accepted"]
    assert c.webex_status.refuses_our_token is True


async def test_scim_misconfigured_is_owed_and_does_not_block() -> None:
    http, _ = webex(status_ok(), scim_status(403))
    report = await run_checks(clients(graph=healthy_graph(), http=http))
    assert [n.kind for n in report.owed] == ["webex_scim_misconfigured"]
    assert report.healthy is True


async def test_nobody_seeing_the_consent_is_unwitnessed() -> None:
    graph = healthy_graph()
    graph.grants = forbidden()
    http, _ = webex(status_401(), scim_ok())
    report = await run_checks(clients(graph=graph, http=http))
    witness = report.results[-1]
    assert (witness.name, witness.verdict, witness.app_key) == ("consent.witness", "unwitnessed", "integration")
    assert witness.evidence == (
        "nobody can see the integration's admin consent: Graph cannot read its grants (Directory.Read.All "
        "(application) on Microsoft Graph missing) and the status call says token_not_accepted; grant "
        "Directory.Read.All (application) on Microsoft Graph to the app's identity"
    )
    assert report.healthy is False


def _r(name: str, verdict: str, app_key: str | None = "integration", retry_after: float | None = None) -> CheckResult:
    return CheckResult(name, verdict, "e", 0.0, app_key=app_key, retry_after=retry_after)


@pytest.mark.parametrize(
    ("status", "grant", "witnessed"),
    [
        ("unknown", "not_configured", False),
        ("token_not_accepted", "not_configured", False),
        ("healthy", "not_configured", True),  # the status call saw it
        ("consent_missing", "not_configured", True),
        ("unknown", "healthy", True),  # Graph saw it
        ("unknown", "consent_missing", True),
    ],
)
def test_the_consent_witness_rule(status: str, grant: str, witnessed: bool) -> None:
    report = HealthReport([_r("graph.consent_grant.integration", grant), _r("webex.sync_status", status)])
    assert (consent_unwitnessed(report) is None) is witnessed


def test_no_witness_check_without_both_results() -> None:
    assert consent_unwitnessed(HealthReport([_r("graph.consent_grant.integration", "not_configured")])) is None
    assert consent_unwitnessed(HealthReport([_r("webex.sync_status", "unknown")])) is None


@pytest.mark.parametrize(
    ("name", "verdict", "ok"),
    [
        ("graph.service_principal.integration", "healthy", True),
        ("graph.service_principal.integration", "not_configured", True),
        ("graph.service_principal.integration", "missing", False),
        ("graph.service_principal.integration", "degraded", False),
        ("webex.sync_status", "unknown", True),
        ("webex.sync_status", "token_not_accepted", True),
        ("webex.sync_status", "unauthorized", False),
        ("webex.scim", "misconfigured", True),
        ("webex.scim", "unknown", False),
        ("graph.consent_grant.integration", "misconfigured", False),
    ],
)
def test_which_verdicts_are_ok(name: str, verdict: str, ok: bool) -> None:
    assert _r(name, verdict).ok is ok


def test_report_lookups_and_hints() -> None:
    owed = NoticeOwed("k", "t", ("l",), "key")
    a = _r("graph.service_principal.integration", "healthy", retry_after=5.0)
    b = _r("graph.service_principal.identity", "missing", app_key="identity", retry_after=30.0)
    c = CheckResult("webex.scim", "misconfigured", "e", 0.0, owed=(owed, owed))
    report = HealthReport([a, b, c])
    assert report.first("graph.service_principal.") is a
    assert report.first("graph.service_principal.", "identity") is b
    assert report.first("graph.consent_grant.") is None
    assert report.for_app("identity") == [b]
    assert report.longest_retry_after == 30.0
    assert HealthReport([a]).longest_retry_after == 5.0
    assert HealthReport([c]).longest_retry_after is None
    assert report.owed == [owed, owed]
    assert report.healthy is False and HealthReport([a, c]).healthy is True


def test_evidence_is_redacted() -> None:
    from shared.core.redaction import remember_secret

    remember_secret("s3cr3t-value-for-the-check")
    r = CheckResult("webex.sync_status", "unauthorized", "echo: s3cr3t-value-for-the-check", 0.0)
    assert "s3cr3t-value-for-the-check" not in r.evidence


def test_config_row_and_notice() -> None:
    fine = settings()
    assert (config_check(fine).verdict, config_check(fine).evidence) == (
        "healthy",
        "every configured channel has the settings it needs",
    )
    assert config_notice(fine) is None
    broken = settings(NOTIFY_WEBHOOK_URL="https://hooks.example/x")
    row = config_check(broken)
    assert (row.name, row.verdict) == ("config.channels", "misconfigured")
    notice = config_notice(broken)
    assert notice is not None
    assert (notice.kind, notice.title, notice.lines[:-1]) == (
        "configuration_problem",
        "The Webex sync remediator is partly misconfigured",
        tuple(p.message for p in broken.problems),
    )
    assert row.evidence == "; ".join(p.message for p in broken.problems)
    assert notice.once_key.startswith("config-problems:") and len(notice.once_key) == len("config-problems:") + 32
    same = config_notice(settings(NOTIFY_WEBHOOK_URL="https://hooks.example/y"))
    other = config_notice(
        settings(NOTIFY_WEBHOOK_URL="https://hooks.example/x", unresolved_references=("WEBEX_BOT_TOKEN",))
    )
    assert same is not None and other is not None
    assert same.once_key == notice.once_key, "the same problems are told once"
    assert other.once_key != notice.once_key, "a different problem is told again"


def test_the_integration_is_the_consent_grant_app() -> None:
    assert INTEGRATION.key == "integration"
