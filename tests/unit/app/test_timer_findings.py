"""The timer's state checks and the delta's removals → findings → the rules' kinds (shared/app/health_check.py,
shared/app/sweep.py), without storage: the expected kinds are the ones the timer opened before the rules decided."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest

from shared.app.health_check import findings
from shared.checks.report import CheckResult, HealthReport
from shared.core.catalogue import Catalogue
from shared.core.models import Kind
from shared.detect import classify as rules
from shared.detect.findings import classify_finding

CAT = Catalogue()
SP_ID = "c2a5f6e1-8b7d-4c3e-9a1f-2d4b6e8f0a1c"
IDENTITY_ID = "5b6f0e2c-3c1a-4e0e-9f3e-2a8d6c1b7e44"


def sp(app_key: str, verdict: str, soft: bool | None = None, app_id: str | None = None) -> CheckResult:
    return CheckResult(f"graph.service_principal.{app_key}", verdict, "", 1.0, app_key, SP_ID, soft, app_id=app_id)


def verdicts(report: HealthReport, app_key: str) -> list[tuple[str, str, str]]:
    out = []
    for finding in findings(report, app_key, integration=app_key == "integration"):
        c = classify_finding(finding, CAT)
        out.append((finding.detail, str(c.kind), str(c.action)))
    return out


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (sp("integration", "missing", soft=True),
         ("service principal in the recycle bin", "integration_deleted", "notify_consent")),
        (sp("integration", "missing", soft=False),
         ("service principal missing (hard delete)", "integration_hard_deleted", "notify_consent")),
        (sp("integration", "disabled"), ("service principal disabled", "integration_disabled", "notify_reenable")),
        (sp("identity", "missing", soft=True),
         ("service principal missing", "identity_app_deleted", "notify_reprovision")),
        (sp("identity", "missing", soft=False),
         ("service principal missing", "identity_app_deleted", "notify_reprovision")),
        (sp("identity", "disabled"), ("service principal disabled", "integration_disabled", "notify_reenable")),
    ],
)  # fmt: skip
def test_presence_check_findings_keep_their_kinds(result: CheckResult, expected: tuple[str, str, str]) -> None:
    assert verdicts(HealthReport([result]), str(result.app_key)) == [expected]


def test_healthy_and_unknown_verdicts_are_no_finding() -> None:
    report = HealthReport([sp("integration", "healthy"), sp("identity", "not_configured"), sp("identity", "ambiguous")])
    assert verdicts(report, "integration") == [] and verdicts(report, "identity") == []


@pytest.mark.parametrize(
    ("webex", "grant", "expected"),
    [
        ("consent_missing", None, ["Webex reports consent missing (701018)"]),
        ("consent_missing", "not_configured", ["Webex reports consent missing (701018)"]),
        ("consent_missing", "healthy", []),  # Entra has the grant: Webex lags behind it
        ("healthy", "consent_missing", ["no admin-consent grant in Entra"]),
        (None, "consent_missing", ["no admin-consent grant in Entra"]),
        ("healthy", "healthy", []),
    ],
)
def test_consent_findings(webex: str | None, grant: str | None, expected: list[str]) -> None:
    results = [sp("integration", "healthy")]
    if webex is not None:
        results.append(CheckResult("webex.sync_status", webex, "", 1.0))
    if grant is not None:
        results.append(CheckResult("graph.consent_grant.integration", grant, "", 1.0, "integration"))
    got = verdicts(HealthReport(results), "integration")
    assert got == [(d, "consent_revoked", "notify_consent") for d in expected]
    assert verdicts(HealthReport([*results[1:], sp("identity", "healthy")]), "identity") == []


def test_no_consent_finding_while_the_service_principal_is_broken() -> None:
    report = HealthReport([sp("integration", "disabled"), CheckResult("webex.sync_status", "consent_missing", "", 1.0)])
    assert [v[1] for v in verdicts(report, "integration")] == ["integration_disabled"]


def test_identity_found_by_name_keeps_the_app_id_graph_showed() -> None:
    (finding,) = findings(HealthReport([sp("identity", "disabled", app_id=IDENTITY_ID)]), "identity", integration=False)
    c = classify_finding(finding, CAT)
    assert c.app is not None and c.app.app_id == IDENTITY_ID and c.target is not None and c.target.id == SP_ID


def test_the_timers_kind_comes_from_the_rules_table(monkeypatch: pytest.MonkeyPatch) -> None:
    patched = tuple(replace(r, kind=Kind.CONSENT_REVOKED) if r.name == "app-disabled" else r for r in rules.RULES)
    monkeypatch.setattr(rules, "RULES", patched)
    assert verdicts(HealthReport([sp("integration", "disabled")]), "integration") == [
        ("service principal disabled", "consent_revoked", "notify_reenable")
    ]


async def _removal(monkeypatch: pytest.MonkeyPatch, app_key: str, reason: str) -> tuple[str, str, str | None]:
    from shared.app import pipeline
    from shared.app.sweep import _process_removal

    seen: list[Any] = []

    async def process_record(svc: Any, record: Any, c: Any) -> Any:
        seen.append((record, c))
        return c

    monkeypatch.setattr(pipeline, "process_record", process_record)
    deps: Any = SimpleNamespace(settings=SimpleNamespace(catalogue=CAT), pipeline=None)
    await _process_removal(deps, app_key, SP_ID, reason)
    ((record, c),) = seen
    assert record.activity.startswith("Health check: service principal removed") and record.targets[0].id == SP_ID
    return str(c.kind), str(c.action), c.app.key if c.app else None


@pytest.mark.parametrize(
    ("app_key", "reason", "expected"),
    [
        ("integration", "changed", ("integration_deleted", "notify_consent", "integration")),
        ("integration", "deleted", ("integration_hard_deleted", "notify_consent", "integration")),
        ("integration", "", ("integration_hard_deleted", "notify_consent", "integration")),
        ("identity", "changed", ("identity_app_deleted", "notify_reprovision", "identity")),
        ("identity", "deleted", ("identity_app_deleted", "notify_reprovision", "identity")),
    ],
)
async def test_delta_removals_keep_their_kinds(
    monkeypatch: pytest.MonkeyPatch, app_key: str, reason: str, expected: tuple[str, str, str]
) -> None:
    assert await _removal(monkeypatch, app_key, reason) == expected


async def test_the_delta_kind_comes_from_the_rules_table(monkeypatch: pytest.MonkeyPatch) -> None:
    patched = tuple(
        replace(r, kind=Kind.INTEGRATION_DELETED) if r.name == "integration-hard-deleted" else r for r in rules.RULES
    )
    monkeypatch.setattr(rules, "RULES", patched)
    got = await _removal(monkeypatch, "integration", "deleted")
    assert got == ("integration_deleted", "notify_consent", "integration")
