"""The timer's findings and the delta's removals are decided by the rules table (shared/detect/findings.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from shared.core.catalogue import INTEGRATION_APP_ID, Catalogue
from shared.core.models import AuditRecord, Initiator, Kind, ModifiedProperty, Source, TargetResource
from shared.detect import classify as rules
from shared.detect.classify import WATCHED_ACTIVITIES
from shared.detect.findings import Finding, Seen, classify_finding, finding_record

CAT = Catalogue()
IDENTITY_ID = "5b6f0e2c-3c1a-4e0e-9f3e-2a8d6c1b7e44"
SP_ID = "c2a5f6e1-8b7d-4c3e-9a1f-2d4b6e8f0a1c"


@pytest.mark.parametrize(
    ("app_key", "seen", "kind", "action", "rule"),
    [
        ("integration", Seen.IN_RECYCLE_BIN, "integration_deleted", "notify_consent", "integration-soft-deleted"),
        ("integration", Seen.GONE, "integration_hard_deleted", "notify_consent", "integration-hard-deleted"),
        ("integration", Seen.DISABLED, "integration_disabled", "notify_reenable", "app-disabled"),
        ("integration", Seen.CONSENT_MISSING, "consent_revoked", "notify_consent", "integration-consent-revoked"),
        ("identity", Seen.IN_RECYCLE_BIN, "identity_app_deleted", "notify_reprovision", "identity-app-deleted"),
        ("identity", Seen.GONE, "identity_app_deleted", "notify_reprovision", "identity-app-deleted"),
        ("identity", Seen.DISABLED, "integration_disabled", "notify_reenable", "app-disabled"),
        # Consent is the integration's; the Identity app has no consent finding and no rule for one.
        ("identity", Seen.CONSENT_MISSING, "unrelated", "ignore", "no-rule-for-activity"),
    ],
)
def test_each_finding_gets_the_kind_a_rule_row_gives(
    app_key: str, seen: Seen, kind: str, action: str, rule: str
) -> None:
    c = classify_finding(Finding(app_key, seen, SP_ID, "detail"), CAT)
    assert (c.kind.value, c.action.value, c.rule) == (kind, action, rule)
    assert c.app is not None and c.app.key == app_key
    assert c.target is not None and c.target.id == SP_ID


def test_a_changed_rule_row_changes_the_findings_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    """No second table: swap the soft-delete row's kind and the recycle-bin finding follows it."""
    patched = tuple(
        replace(r, kind=Kind.INTEGRATION_HARD_DELETED) if r.name == "integration-soft-deleted" else r
        for r in rules.RULES
    )
    monkeypatch.setattr(rules, "RULES", patched)
    c = classify_finding(Finding("integration", Seen.IN_RECYCLE_BIN, SP_ID), CAT)
    assert (c.kind, c.rule) == (Kind.INTEGRATION_HARD_DELETED, "integration-soft-deleted")
    monkeypatch.setattr(rules, "RULES", tuple(r for r in rules.RULES if r.name != "app-disabled"))
    assert classify_finding(Finding("identity", Seen.DISABLED, SP_ID), CAT).kind is Kind.UNRELATED


def test_the_identity_app_found_by_name_carries_graphs_app_id() -> None:
    c = classify_finding(Finding("identity", Seen.GONE, SP_ID, app_id=IDENTITY_ID), CAT)
    assert c.app is not None and c.app.app_id == IDENTITY_ID
    assert CAT.identity.app_id is None, "the catalogue itself is not changed"
    configured = Catalogue(IDENTITY_ID)
    other = "11111111-2222-4333-8444-555555555555"
    c = classify_finding(Finding("identity", Seen.GONE, SP_ID, app_id=other), configured)
    assert c.app is configured.identity and c.kind is Kind.IDENTITY_APP_DELETED, "a configured appId is kept"
    c = classify_finding(Finding("integration", Seen.GONE, None, app_id=other), CAT)
    assert c.app is CAT.integration and c.app.app_id == INTEGRATION_APP_ID


def test_an_unknown_app_key_is_unrelated() -> None:
    c = classify_finding(Finding("teams", Seen.GONE, SP_ID), CAT)
    assert (c.kind, c.app, c.rule) == (Kind.UNRELATED, None, "not-a-webex-app")
    assert finding_record(Finding("teams", Seen.GONE), CAT) is None


def test_findings_stand_for_watched_activities_and_never_for_a_pushed_source() -> None:
    for seen in Seen:
        record = finding_record(Finding("integration", seen, SP_ID), CAT)
        assert record is not None
        assert record.activity in WATCHED_ACTIVITIES
        assert record.source.value == "health"
        assert record.targets[0].app_id == INTEGRATION_APP_ID


def test_a_disabled_finding_is_written_as_the_update_that_turned_the_app_off() -> None:
    """The record the rules read, field for field: an ``AccountEnabled`` change from true to false
    (the same change Entra logs), on a target named as the catalogue names the app."""
    record = finding_record(Finding("identity", Seen.DISABLED, SP_ID, "seen disabled", IDENTITY_ID), CAT)
    assert record == AuditRecord(
        record_id="finding:identity:disabled",
        activity="Update service principal",
        source=Source.HEALTH,
        initiator=Initiator(kind="unknown", display_name="health check"),
        targets=(
            TargetResource(
                id=SP_ID,
                display_name="Cisco Webex Identity",
                type="ServicePrincipal",
                app_id=IDENTITY_ID,
                modified=(ModifiedProperty("AccountEnabled", [True], [False]),),
            ),
        ),
    )
    verdict = classify_finding(Finding("identity", Seen.DISABLED, SP_ID), CAT)
    assert verdict.target is not None
    assert verdict.target.modified == (ModifiedProperty("AccountEnabled", [True], [False]),)
