"""The rules table: every kind and action, activity-name variants, and records that must not match."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shared.core.catalogue import INTEGRATION_APP_ID, Catalogue
from shared.core.models import Action, AuditRecord, Initiator, Kind, ModifiedProperty, Source, TargetResource
from shared.detect.classify import RULES, Classification, classify, classify_extraction
from shared.detect.normalize import extract
from shared.detect.payload import parse_json

FIXTURES = Path(__file__).parent / "fixtures" / "payloads"
IDENTITY_ID = "5b6f0e2c-3c1a-4e0e-9f3e-2a8d6c1b7e44"
OTHER_ID = "00000003-0000-0ff1-ce00-000000000000"
CAT = Catalogue()


def sp(
    app_id: str | None = INTEGRATION_APP_ID, name: str = "Cisco Webex Identity Integration", **props: tuple[Any, Any]
) -> TargetResource:
    modified = tuple(ModifiedProperty(k, old, new) for k, (old, new) in props.items())
    return TargetResource("c2a5f6e1-8b7d-4c3e-9a1f-2d4b6e8f0a1c", name, "ServicePrincipal", app_id, modified)


def rec(activity: str, *targets: TargetResource, result: str | None = "success") -> AuditRecord:
    return AuditRecord(
        "Directory_a1b2c3d4-1111-4a2b-8c3d-000000000001_7ZH3P_1",
        activity,
        Source.GRAPH,
        result=result,
        initiator=Initiator("user", user_principal_name="admin@contoso.onmicrosoft.com"),
        targets=targets,
    )


def verdict(activity: str, *targets: TargetResource, catalogue: Catalogue = CAT, **kw: Any) -> Classification:
    return classify(rec(activity, *targets, **kw), catalogue)


@pytest.mark.parametrize(
    "activity",
    [
        "Delete service principal",
        "delete service principal",
        "DELETE SERVICE PRINCIPAL",
        "Remove service principal",
        "  Delete   service principal ",
    ],
)
def test_soft_delete_variants(activity: str) -> None:
    c = verdict(activity, sp())
    assert (c.kind, c.action) == (Kind.INTEGRATION_DELETED, Action.NOTIFY_CONSENT)
    assert c.app is CAT.integration and c.rule == "integration-soft-deleted"


@pytest.mark.parametrize(
    "activity", ["Hard delete service principal", "Hard Delete service principal", "hard delete SERVICE principal"]
)
def test_hard_delete(activity: str) -> None:
    c = verdict(activity, sp())
    assert (c.kind, c.action) == (Kind.INTEGRATION_HARD_DELETED, Action.NOTIFY_CONSENT)


@pytest.mark.parametrize(
    "activity", ["Delete service principal", "Remove service principal", "Hard delete service principal"]
)
def test_identity_app_deleted_by_name_or_configured_id(activity: str) -> None:
    by_name = verdict(activity, sp(None, "Cisco Webex Identity"))
    assert (by_name.kind, by_name.action) == (Kind.IDENTITY_APP_DELETED, Action.NOTIFY_REPROVISION)
    configured = Catalogue(IDENTITY_ID)
    by_id = verdict(activity, sp(IDENTITY_ID, "Renamed"), catalogue=configured)
    assert by_id.kind is Kind.IDENTITY_APP_DELETED and by_id.app is configured.identity
    # Once the id is configured, the name alone no longer matches (a look-alike cannot trigger).
    assert verdict(activity, sp(OTHER_ID, "Cisco Webex Identity"), catalogue=configured).kind is Kind.UNRELATED


@pytest.mark.parametrize("new", [[False], False, "False", "false", ["false"], "[false]"])
def test_disabled(new: object) -> None:
    c = verdict("Update service principal", sp(AccountEnabled=([True], new)))
    assert (c.kind, c.action) == (Kind.INTEGRATION_DISABLED, Action.NOTIFY_REENABLE)


def test_identity_app_disabled_uses_reenable() -> None:
    c = verdict("Update service principal", sp(None, "Cisco Webex Identity", AccountEnabled=([True], [False])))
    assert (c.kind, c.action) == (Kind.INTEGRATION_DISABLED, Action.NOTIFY_REENABLE)
    assert c.app is CAT.identity


@pytest.mark.parametrize("new", [[True], True, "True", "[true]"])
def test_reenabled_is_restored(new: object) -> None:
    c = verdict("update service principal", sp(accountenabled=([False], new)))
    assert (c.kind, c.action) == (Kind.INTEGRATION_RESTORED, Action.VERIFY)


def test_other_updates_are_unrelated() -> None:
    assert verdict("Update service principal", sp(Tags=([], ["x"]))).kind is Kind.UNRELATED
    assert verdict("Update service principal", sp(AccountEnabled=([True], [True]))).kind is Kind.UNRELATED
    assert verdict("Update service principal", sp(AccountEnabled=([], []))).kind is Kind.UNRELATED
    assert verdict("Update service principal", sp()).rule == "no-rule-for-activity"


@pytest.mark.parametrize(
    "activity", ["Remove delegated permission grant", "remove app role assignment from service principal"]
)
def test_consent_revoked(activity: str) -> None:
    c = verdict(activity, sp())
    assert (c.kind, c.action) == (Kind.CONSENT_REVOKED, Action.NOTIFY_CONSENT)


@pytest.mark.parametrize("activity", ["Add service principal", "Restore service principal", "Consent to application"])
def test_restored(activity: str) -> None:
    for target in (sp(), sp(None, "Cisco Webex Identity")):
        c = verdict(activity, target)
        assert (c.kind, c.action) == (Kind.INTEGRATION_RESTORED, Action.VERIFY)


def test_other_app_and_lookalikes_are_unrelated() -> None:
    assert verdict("Delete service principal", sp(OTHER_ID, "Office 365 SharePoint Online")).rule == "not-a-webex-app"
    # The integration is matched by appId only: its display name on another app means nothing.
    assert verdict("Delete service principal", sp(OTHER_ID)).kind is Kind.UNRELATED
    assert verdict("Delete service principal", sp(None)).kind is Kind.UNRELATED
    assert verdict("Delete service principal").kind is Kind.UNRELATED  # no targets


def test_failed_operations_are_ignored() -> None:
    c = verdict("Delete service principal", sp(), result="failure")
    assert (c.kind, c.action, c.rule) == (Kind.UNRELATED, Action.IGNORE, "failed-operation")
    assert verdict("Delete service principal", sp(), result="FAILURE").kind is Kind.UNRELATED
    assert verdict("Delete service principal", sp(), result=None).kind is Kind.INTEGRATION_DELETED


def test_webex_target_found_among_several() -> None:
    user = TargetResource("u1", "someone", "User")
    c = verdict("Remove app role assignment from service principal", user, sp())
    assert c.kind is Kind.CONSENT_REVOKED and c.target is not None and c.target.app_id == INTEGRATION_APP_ID


def test_unknown_activity() -> None:
    assert verdict("Add member to group", sp()).kind is Kind.UNRELATED


def test_rules_cover_every_kind_and_action() -> None:
    assert {r.kind for r in RULES} | {Kind.UNRELATED} == set(Kind)
    assert {r.action for r in RULES} | {Action.IGNORE} == set(Action)


def _fixture(name: str) -> list[tuple[str, str]]:
    extraction = extract(parse_json((FIXTURES / name).read_bytes(), limit=10 * 1024 * 1024))
    return [(c.kind.value, c.action.value) for _, c in classify_extraction(extraction, CAT)]


def test_fixture_payloads_end_to_end() -> None:
    assert _fixture("graph_page_deletions.json") == [
        ("integration_deleted", "notify_consent"),
        ("integration_hard_deleted", "notify_consent"),
        ("unrelated", "ignore"),
    ]
    assert _fixture("graph_list_updates.json") == [
        ("integration_disabled", "notify_reenable"),
        ("integration_restored", "verify"),
        ("unrelated", "ignore"),
        ("unrelated", "ignore"),
    ]
    assert _fixture("graph_page_consent.json") == [
        ("consent_revoked", "notify_consent"),
        ("consent_revoked", "notify_consent"),
        ("integration_restored", "verify"),
    ]
    assert _fixture("graph_record_identity_deleted.json") == [("identity_app_deleted", "notify_reprovision")]
    assert _fixture("graph_record_other_app.json") == [("unrelated", "ignore")]
    assert _fixture("diagnostic_records_legacy.json") == [
        ("unrelated", "ignore"),
        ("integration_deleted", "notify_consent"),
    ]
    assert _fixture("loganalytics_query_tables.json") == [
        ("integration_hard_deleted", "notify_consent"),
        ("consent_revoked", "notify_consent"),
    ]
    assert _fixture("eventgrid_validation.json") == []
