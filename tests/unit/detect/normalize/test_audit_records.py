"""shared/detect/normalize/audit.py, fast: ``record_from`` (which records it defers, which it skips and
why, the fields of the rest), the readers' exact-key probes against hostile keys (an empty key, a key
in another casing only) and the 2019 reader's corners. Expected values are literals."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from shared.core.models import AuditRecord, Initiator, ModifiedProperty, Source, TargetResource
from shared.detect.normalize import extract
from shared.detect.normalize._util import Context
from shared.detect.normalize.audit import (
    CAMEL,
    PASCAL,
    details_from,
    initiator_from,
    properties_from,
    record_from,
    rest_of,
    targets_from,
)
from shared.detect.normalize.deferred import DeferredRecord

APP = "90db942a-c1eb-4e8d-82e4-eebf64a7e2ae"
OTHER = "11111111-2222-4333-8444-555555555555"
RULE = "Delete service principal"  # an activity a rule reads: the record is read now
WHEN = datetime(2024, 5, 1, 10, 0, 12, tzinfo=UTC)


def read(obj: dict[str, Any], **kwargs: Any) -> tuple[AuditRecord | None, list[str]]:
    ctx = Context()
    return record_from(obj, Source.GRAPH, ctx, "value 0", **kwargs), ctx.skipped


# --- which records are deferred -------------------------------------------------------------------


def test_a_record_no_rule_reads_is_deferred_and_one_a_rule_reads_is_not() -> None:
    unrelated, _ = read(
        {"id": "r1", "activityDisplayName": "Update user", "targetResources": [], "additionalDetails": []}
    )
    assert type(unrelated) is DeferredRecord
    related, _ = read({"id": "r2", "activityDisplayName": RULE, "targetResources": [{"id": "t"}]})
    assert type(related) is AuditRecord
    assert related.targets == (TargetResource("t", None, None, None, ()),)


@pytest.mark.parametrize(
    ("targets", "details"),
    [('[{"id": "t"}]', None), (None, '[{"key": "k", "value": "v"}]'), ("[]", []), ([], "[]")],
)
def test_a_record_with_json_text_fields_is_read_now(targets: Any, details: Any) -> None:
    obj: dict[str, Any] = {"id": "r1", "activityDisplayName": "Update user"}
    if targets is not None:
        obj["targetResources"] = targets
    if details is not None:
        obj["additionalDetails"] = details
    record, notes = read(obj)
    assert type(record) is AuditRecord
    assert notes == []


def test_deferred_and_eager_records_hold_the_same_values() -> None:
    obj = {
        "id": "r1",
        "activityDisplayName": "Update user",
        "correlationId": "c1",
        "result": "Success",
        "targetResources": [{"id": "t", "type": "ServicePrincipal"}],
        "additionalDetails": [{"key": "AppId", "value": APP}],
    }
    deferred, _ = read(obj)
    eager, _ = read({**obj, "additionalDetails": '[{"key": "AppId", "value": "' + APP + '"}]'})
    assert type(deferred) is DeferredRecord
    assert type(eager) is AuditRecord
    assert deferred == eager
    assert eager.targets == (TargetResource("t", None, "ServicePrincipal", APP, ()),)
    assert (eager.result, eager.correlation_id) == ("success", "c1")


# --- ids and skips --------------------------------------------------------------------------------


def test_a_record_without_an_id_gets_one_derived_from_its_unstripped_activity() -> None:
    record, notes = read({"activityDisplayName": " Update user ", "correlationId": "c", "activityDateTime": "t"})
    assert record is not None
    assert (record.record_id, record.activity, notes) == ("derived_2b9f9bd80c7eaaf7d9e0aa92ad31d589", "Update user", [])


@pytest.mark.parametrize(
    "obj",
    [
        {"activityDisplayName": "Update user", "correlationId": "c", "activityDateTime": 5},
        {"activityDisplayName": "Update user", "activityDateTime": "t"},
        {"activityDisplayName": "Update user", "correlationId": "c"},
    ],
)
def test_a_record_without_an_id_and_what_would_derive_one_is_skipped(obj: dict[str, Any]) -> None:
    assert read(obj) == (None, ["value 0: record 'Update user' has no id and no correlationId+time to derive one"])


@pytest.mark.parametrize(
    ("targets", "details", "skipped"),
    [
        ("not json", None, True),
        ("not json", [{"key": "a", "value": "b"}], True),
        ("{}", None, True),
        (5, None, True),
        ("[]", None, False),
        ("", None, False),
        ('[{"id": "t"}]', None, False),
    ],
)
def test_target_resources_that_are_no_list(targets: Any, details: Any, skipped: bool) -> None:
    obj: dict[str, Any] = {"id": "r1", "activityDisplayName": RULE, "targetResources": targets}
    if details is not None:
        obj["additionalDetails"] = details
    record, notes = read(obj)
    if skipped:
        assert (record, notes) == (None, ["value 0: record 'r1': targetResources is not a list or JSON array"])
    else:
        assert record is not None
        assert notes == []


# --- the rest of a record -------------------------------------------------------------------------


def test_the_rest_of_a_log_analytics_row() -> None:
    row = {
        "AADTenantId": OTHER,
        "TenantId": "workspace",
        "ActivityDateTime": "2024-05-01T10:00:12Z",
        "TimeGenerated": "2024-05-01T10:05:00.1234567+00:00",
        "ResultType": "Failure",
        "Category": "ApplicationManagement",
        "CorrelationId": "c1",
        "LoggedByService": "Core Directory",
        "InitiatedBy": {"app": {"displayName": "Tool"}},
        "TargetResources": [{"id": "t", "type": "ServicePrincipal"}],
        "AdditionalDetails": [{"key": "User-Agent", "value": "x"}, {"key": "APPID", "value": f" {APP.upper()} "}],
    }
    assert rest_of(row, PASCAL) == (
        OTHER,
        WHEN,
        datetime(2024, 5, 1, 10, 5, 0, 123456, tzinfo=UTC),
        "failure",
        "ApplicationManagement",
        "c1",
        "Core Directory",
        Initiator("app", None, "Tool"),
        (TargetResource("t", None, "ServicePrincipal", APP, ()),),
        (("User-Agent", "x"), ("APPID", f" {APP.upper()} ")),
    )


def test_a_graph_record_has_no_ingestion_time_of_its_own() -> None:
    rest = rest_of({"activityDateTime": "2024-05-01T10:00:12Z", "timeGenerated": "2024-05-01T10:05:00Z"}, CAMEL)
    assert rest[1:4] == (WHEN, None, None)


def test_the_given_ingestion_time_and_result_are_kept() -> None:
    given = datetime(2024, 1, 1, tzinfo=UTC)
    obj = {"id": "r1", "activityDisplayName": RULE, "TimeGenerated": "2024-05-01T10:05:00Z"}
    record, _ = read(obj, spelling=PASCAL, ingested=given, fallback_result="Success")
    assert record is not None
    assert (record.ingested_time, record.result) == (given, "success")
    record, _ = read({**obj, "result": "failure"}, fallback_result="Success")
    assert record is not None
    assert (record.ingested_time, record.result) == (None, "failure")
    record, _ = read({**obj, "resultType": "Timeout"})
    assert record is not None
    assert record.result == "timeout"


def test_the_first_details_app_id_is_taken_and_a_blank_one_is_none() -> None:
    target = [{"id": "t", "type": "Application"}]
    first = rest_of(
        {
            "targetResources": target,
            "additionalDetails": [{"key": "appid", "value": APP}, {"key": "AppId", "value": OTHER}],
        },
        CAMEL,
    )
    assert first[8][0].app_id == APP
    blank = rest_of({"targetResources": target, "additionalDetails": [{"key": "AppId", "value": " "}]}, CAMEL)
    assert blank[8][0].app_id is None


# --- exact-key probes: an empty key or another casing gives the same answer ------------------------


def test_who_did_it_with_an_empty_key_or_another_casing() -> None:
    decoy = {"": {"id": "decoy", "displayName": "decoy", "userPrincipalName": "decoy"}}
    assert initiator_from({**decoy, "user": {"id": "u1"}}) == Initiator("user", "u1")
    assert initiator_from({**decoy, "User": {"ID": "u1"}}) == Initiator("user", "u1")
    user = {"": "decoy", "userPrincipalName": "a@b.c", "id": "u1", "displayName": "Ann"}
    assert initiator_from({"user": user}) == Initiator("user", "u1", "Ann", "a@b.c")
    other_casing = {"": "decoy", "UserPrincipalName": "a@b.c", "ID": "u1", "DisplayName": "Ann"}
    assert initiator_from({"User": other_casing}) == Initiator("user", "u1", "Ann", "a@b.c")


def test_details_with_an_empty_key_or_another_casing() -> None:
    items = [{"": "decoy", "key": "k", "value": "v"}, {"": "decoy", "Key": "K", "Value": "V"}]
    assert details_from(items) == (("k", "v"), ("K", "V"))
    assert details_from([]) == ()


def test_properties_with_an_empty_key_or_another_casing() -> None:
    props = [
        {"": "decoy", "displayName": "A", "oldValue": "[1]", "newValue": "[2]"},
        {"": "decoy", "DisplayName": "B", "OldValue": "[3]", "NewValue": "[4]"},
        {"displayName": "C"},
    ]
    assert properties_from(props) == (
        ModifiedProperty("A", [1], [2]),
        ModifiedProperty("B", [3], [4]),
        ModifiedProperty("C", None, None),
    )


def test_targets_with_an_empty_key_or_another_casing() -> None:
    items = [
        {"": "decoy", "id": "t1", "displayName": "One", "type": "User", "appId": "a1", "modifiedProperties": []},
        {"ID": "t2", "DisplayName": "Two", "Type": "Group", "AppId": "a2"},
        {"": "decoy"},
    ]
    assert targets_from(items, None) == (
        TargetResource("t1", "One", "User", "a1", ()),
        TargetResource("t2", "Two", "Group", "a2", ()),
        TargetResource(None, None, None, None, ()),
    )
    with_props = [{"": "decoy", "id": "t", "modifiedProperties": [{"displayName": "AppId", "newValue": f'["{APP}"]'}]}]
    assert targets_from(with_props, None)[0].app_id == APP


def test_a_target_keeps_its_own_app_id_over_its_properties() -> None:
    props = [{"displayName": "AppId", "newValue": f'["{OTHER}"]'}]
    assert targets_from([{"id": "t", "appId": "own", "modifiedProperties": props}], None)[0].app_id == "own"
    unrelated = [{"displayName": "DisplayName", "newValue": '["x"]'}]
    assert targets_from([{"id": "t", "appId": "own", "modifiedProperties": unrelated}], None)[0].app_id == "own"


def test_no_targets_is_an_empty_tuple() -> None:
    assert targets_from([], None) == ()
    assert targets_from(None, None) == ()
    assert targets_from(f'[{{"id": "t", "appId": "{APP}"}}]', None) == (TargetResource("t", None, None, APP, ()),)


def test_summary_probes_with_an_empty_key() -> None:
    props = [{"": "decoy", "DisplayName": "AppId", "OldValue": f'["{APP}"]', "NewValue": "[]"}]
    record, _ = read(
        {
            "id": "r1",
            "activityDisplayName": "Update user",
            "targetResources": [{"id": "t", "type": "User", "modifiedProperties": props}],
        }
    )
    assert isinstance(record, DeferredRecord)
    summary = record.line_summary()
    assert summary is not None
    assert summary[4] == APP


# --- the 2019 stream ------------------------------------------------------------------------------


LEGACY: dict[str, Any] = {
    "time": "2019-03-22T13:36:31Z",
    "operationName": "Update service principal",
    "correlationId": "c-1",
    "identity": "Tool",
    "properties": {"id": "L1", "identityType": "App"},
}


def legacy(**props: Any) -> AuditRecord:
    out = extract({"records": [dict(LEGACY, properties={**LEGACY["properties"], **props})]})
    assert out.skipped == []
    (record,) = out.records
    return record


def test_a_legacy_app_initiator() -> None:
    assert legacy().initiator == Initiator("app", display_name="Tool")
    assert legacy(identityType="Other").initiator == Initiator("unknown", display_name="Tool")


def test_a_legacy_record_without_a_target() -> None:
    assert legacy().targets == ()
    assert legacy(targetResourceName="").targets == ()


def test_a_legacy_app_principal_id_and_tenant_context() -> None:
    record = legacy(
        targetResourceType="objectId__appPrincipalId__tenantContextId",
        targetResourceName=f"sp-1__{APP.upper()}__{OTHER}",
    )
    assert record.targets == (TargetResource("sp-1", None, None, APP, ()),)
    assert record.tenant_id == OTHER


def test_a_legacy_empty_field_does_not_hide_a_later_one() -> None:
    record = legacy(targetResourceType="objectId__displayName__name", targetResourceName="sp-1____Real")
    assert record.targets == (TargetResource("sp-1", "Real", None, None, ()),)
    record = legacy(targetResourceType="objectId__bogus__name", targetResourceName="sp-1__x__Real")
    assert record.targets == (TargetResource("sp-1", "Real", None, None, ()),)


def test_a_legacy_record_without_an_id_needs_its_time() -> None:
    out = extract({"records": [dict(LEGACY, time=None, properties={})]})
    assert (out.records, out.skipped) == (
        [],
        ["records 0: legacy record 'Update service principal' has no id and no correlationId+time"],
    )
