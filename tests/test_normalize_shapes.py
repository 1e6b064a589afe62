"""extract(): every documented payload shape becomes the same AuditRecords / AlertWindows."""

from __future__ import annotations

import base64
import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.core.catalogue import INTEGRATION_APP_ID
from shared.core.clock import parse_timestamp
from shared.core.errors import PayloadError
from shared.core.models import Source
from shared.detect.normalize import MAX_RECORDS, extract
from shared.detect.normalize._util import NAME_CAP, decode_value, timestamp
from shared.detect.payload import parse_json

FIXTURES = Path(__file__).parent / "fixtures" / "payloads"
REFERENCE = Path(__file__).parent / "fixtures" / "reference"  # published examples, sources in SOURCES.md
TENANT = "3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
WORKSPACE = "7e9d1c2b-4a5f-4e6d-9c8b-1a2b3c4d5e6f"
SOFT_ID = "Directory_a1b2c3d4-1111-4a2b-8c3d-000000000001_7ZH3P_16428397"


def load(name: str) -> Any:
    return parse_json((FIXTURES / name).read_bytes(), limit=10 * 1024 * 1024)


def test_graph_page() -> None:
    out = extract(load("graph_page_deletions.json"))
    assert [r.record_id for r in out.records] == [
        SOFT_ID,
        "Directory_a1b2c3d4-1111-4a2b-8c3d-000000000002_BZ4XQ_16428398",
        "Directory_a1b2c3d4-1111-4a2b-8c3d-000000000003_Q2W8N_16428399",
    ]
    soft = out.records[0]
    assert soft.source is Source.GRAPH
    assert soft.activity == "Delete service principal"
    assert soft.event_time == datetime(2024, 5, 1, 10, 11, 12, 123456, tzinfo=UTC)
    assert soft.result == "success"
    assert soft.correlation_id == "a1b2c3d4-1111-4a2b-8c3d-000000000001"
    assert soft.initiator.kind == "user"
    assert soft.initiator.user_principal_name == "admin@contoso.onmicrosoft.com"
    assert soft.initiator.ip_address == "203.0.113.7"
    assert soft.detail("appid") == INTEGRATION_APP_ID
    target = soft.targets[0]
    assert target.app_id == INTEGRATION_APP_ID
    assert target.type == "ServicePrincipal"
    assert target.property("accountenabled") == target.property("AccountEnabled"), "names match in any case"
    assert target.property("AccountEnabled").old == [True]  # type: ignore[union-attr]
    assert target.property("AccountEnabled").new == []  # type: ignore[union-attr]
    assert target.property("AppPrincipalId").old == [INTEGRATION_APP_ID]  # type: ignore[union-attr]
    included = target.property("Included Updated Properties")
    assert included is not None and included.old is None
    assert included.new == "AccountEnabled, AppPrincipalId, DisplayName"  # double-encoded → text
    assert out.records[1].event_time == datetime(2024, 5, 31, 10, 11, 12, 765432, tzinfo=UTC)
    group = out.records[2].targets[0]
    assert group.type == "Group"  # "Type" with a capital T, as in the Graph docs example
    assert group.modified[0].new == "Sales"


def test_single_record_with_app_initiator() -> None:
    out = extract(load("graph_record_identity_deleted.json"))
    (record,) = out.records
    assert record.initiator.kind == "app"
    assert record.initiator.display_name == "Azure AD PowerShell"
    assert record.initiator.id == "1b730954-1685-4b74-9bfd-dac224a7b894"
    assert record.targets[0].app_id == "5b6f0e2c-3c1a-4e0e-9f3e-2a8d6c1b7e44"  # from AppPrincipalId


def test_list_of_records_and_appid_from_serviceprincipalnames() -> None:
    out = extract(load("graph_list_updates.json"))
    assert len(out.records) == 4
    disable = out.records[0]
    assert disable.targets[0].app_id == INTEGRATION_APP_ID  # only in TargetId.ServicePrincipalNames
    assert disable.targets[0].property("AccountEnabled").new == [False]  # type: ignore[union-attr]
    assert out.records[3].result == "failure"


def test_reference_examples() -> None:
    page = extract(
        parse_json(
            (REFERENCE / "graph_directoryAudits_list_example1_add_member_to_group.json").read_bytes(), limit=10**6
        )
    )
    (record,) = page.records
    assert record.record_id == "id"
    assert [t.type for t in record.targets] == ["Group", "User"]
    assert record.targets[0].modified[0].new == "DirectorySync"  # not JSON: kept as text
    filtered = extract(
        parse_json(
            (REFERENCE / "graph_directoryAudits_list_example2_filter_initiatedBy_user.json").read_bytes(), limit=10**6
        )
    )
    assert filtered.records[0].record_id.startswith("SSGM_")


def test_loganalytics_rows_objects_and_json_text() -> None:
    out = extract(load("loganalytics_auditlogs_rows.json"))
    assert [r.source for r in out.records] == [Source.LOG_ANALYTICS, Source.LOG_ANALYTICS]
    first, second = out.records
    assert first.record_id == SOFT_ID
    assert first.tenant_id == TENANT  # AADTenantId, not TenantId (the workspace)
    assert first.ingested_time == datetime(2024, 5, 1, 10, 16, 40, 555000, tzinfo=UTC)
    assert first.event_time == datetime(2024, 5, 1, 10, 11, 12, 123456, tzinfo=UTC)
    assert first.targets[0].app_id == INTEGRATION_APP_ID
    # Row 2 carries its dynamic columns as JSON text.
    assert second.initiator.user_principal_name == "admin@contoso.onmicrosoft.com"
    assert second.targets[0].property("AccountEnabled").new == [False]  # type: ignore[union-attr]


def test_loganalytics_tables_form() -> None:
    out = extract(load("loganalytics_query_tables.json"))
    assert [r.activity for r in out.records] == [
        "Hard Delete service principal",
        "Remove app role assignment from service principal",
    ]
    assert all(r.tenant_id == TENANT for r in out.records)
    assert out.records[1].targets[0].app_id == INTEGRATION_APP_ID  # the target's own appId


def test_tables_that_are_not_auditlogs_are_noted() -> None:
    payload = {"tables": [{"name": "PrimaryResult", "columns": [{"name": "Computer"}], "rows": [["a"]]}]}
    out = extract(payload)
    assert out.records == [] and "not AuditLogs rows" in out.skipped[0]


def test_diagnostic_modern() -> None:
    out = extract(load("diagnostic_records_modern.json"))
    assert [r.source for r in out.records] == [Source.DIAGNOSTIC, Source.DIAGNOSTIC]
    assert out.records[0].record_id == SOFT_ID
    assert out.records[0].tenant_id == TENANT
    assert out.records[0].ingested_time == datetime(2024, 5, 1, 10, 12, 30, 123456, tzinfo=UTC)
    assert out.skipped == ["records 2: category 'SignInLogs' is not an audit log"]


def test_diagnostic_legacy_2019() -> None:
    out = extract(load("diagnostic_records_legacy.json"))
    doc, webex = out.records
    assert doc.activity == "Change password (self-service)"
    assert doc.record_id.startswith("derived_")
    assert doc.tenant_id == "bf85dc9d-cb43-44a4-80c4-469e8c58249e"
    assert doc.initiator.user_principal_name == "sreens@wingtiptoysonline.com"
    assert doc.targets[0].id == "7a408bdd-7d97-4574-8511-dd747b56465d"
    assert doc.targets[0].type == "User"
    assert webex.targets[0].app_id == INTEGRATION_APP_ID
    assert webex.targets[0].display_name == "Cisco Webex Identity Integration"
    # Stable: the same record redelivered gets the same derived id.
    assert extract(load("diagnostic_records_legacy.json")).records[1].record_id == webex.record_id


def test_eventgrid_single_and_array() -> None:
    single = extract(load("eventgrid_single.json"))
    assert [r.record_id for r in single.records] == [SOFT_ID]
    batch = extract(load("eventgrid_array.json"))
    assert [r.source for r in batch.records] == [Source.GRAPH, Source.LOG_ANALYTICS]
    assert len(batch.skipped) == 1 and "recordInserted" in batch.skipped[0]


def test_cloudevents_data_and_data_base64() -> None:
    page = extract(load("cloudevent_graph_page.json"))
    assert page.records[0].activity == "Update service principal"
    b64 = extract(load("cloudevent_data_base64.json"))
    assert b64.records[0].targets[0].display_name == "Cisco Webex Identity"


def test_cloudevent_bad_base64_is_skipped_not_fatal() -> None:
    event = load("cloudevent_data_base64.json")
    event["data_base64"] = "!!not base64!!"
    out = extract([event, load("eventgrid_single.json")])
    assert len(out.records) == 1
    assert "not valid base64" in out.skipped[0]
    event["data_base64"] = base64.b64encode(b'{"a": 1, "a": 2}').decode()
    assert "duplicate key" in extract(event).skipped[0]


def test_validation_event_is_a_note() -> None:
    out = extract(load("eventgrid_validation.json"))
    assert out.records == [] and out.alerts == []
    assert "validation" in out.skipped[0]


def test_alert_v2_gives_a_window_and_no_rows() -> None:
    out = extract(load("alert_log_v2_no_rows.json"))
    assert out.records == []
    (window,) = out.alerts
    assert window.alert_id.endswith("4c5d6e7f-aaaa-4b8c-9d0e-000000000001")
    assert window.rule == "webex-sp-deleted"
    assert window.condition == "Fired"
    assert window.start == datetime(2024, 5, 1, 10, 10, tzinfo=UTC)
    assert window.end == datetime(2024, 5, 1, 10, 15, tzinfo=UTC)
    assert window.workspace_id == WORKSPACE
    assert window.fired_time == datetime(2024, 5, 1, 10, 20, 4, 123450, tzinfo=UTC)


def test_alert_v2_reference_and_properties_variants() -> None:
    alert = parse_json((REFERENCE / "azmon_common_alert_full_LogAlertsV2_webhook.json").read_bytes(), limit=10**6)
    for props in (None, {}, {"a": "b"}):
        alert["data"]["alertContext"]["properties"] = props
        assert extract(alert).alerts[0].rule == "AcmeRule"


def test_legacy_alert_with_complete_rows_has_no_window() -> None:
    out = extract(load("alert_legacy_with_rows.json"))
    assert [r.record_id for r in out.records] == [SOFT_ID]
    assert out.alerts == []


def test_legacy_alert_with_partial_rows_keeps_window() -> None:
    alert = load("alert_legacy_with_rows.json")
    alert["data"]["alertContext"]["ResultCount"] = 5
    out = extract(alert)
    assert len(out.records) == 1
    (window,) = out.alerts
    assert window.start == datetime(2024, 5, 1, 10, 5, tzinfo=UTC)
    assert window.end == datetime(2024, 5, 1, 10, 20, tzinfo=UTC)
    assert window.workspace_id == WORKSPACE


def test_legacy_alert_reference_context() -> None:
    context = parse_json(
        (REFERENCE / "azmon_common_alert_alertContext_LogAnalytics_legacy.json").read_bytes(), limit=10**6
    )
    alert = {
        "schemaId": "azureMonitorCommonAlertSchema",
        "data": {"essentials": {"alertId": "a1", "monitorCondition": "Fired"}, **context},
    }
    out = extract(alert)
    assert out.records == []
    assert out.alerts[0].start == datetime(2019, 3, 22, 13, 36, 31, tzinfo=UTC)
    assert any("not AuditLogs rows" in s for s in out.skipped)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda a: a["data"].pop("essentials"),
        lambda a: a["data"]["essentials"].pop("alertId") and a["data"]["essentials"].pop("originAlertId"),
        lambda a: a["data"]["alertContext"]["condition"].pop("windowStartTime"),
        lambda a: a["data"]["alertContext"].pop("condition"),
    ],
)
def test_alert_without_id_or_window_is_an_error(mutate: Any) -> None:
    alert = load("alert_log_v2_no_rows.json")
    mutate(alert)
    with pytest.raises(PayloadError):
        extract(alert)


def test_metric_alert_is_noted_not_an_error() -> None:
    """Readable, but not a log search alert: nothing to re-query, said in a note (not exit 2 / 400)."""
    alert = parse_json((REFERENCE / "azmon_common_alert_schema_full_metric_sample.json").read_bytes(), limit=10**6)
    out = extract(alert)
    assert out.records == [] and out.alerts == []
    (note,) = out.skipped
    assert "not a log search alert" in note and "Metric" in note


def test_alert_without_an_id_is_still_an_error() -> None:
    alert = parse_json((REFERENCE / "azmon_common_alert_schema_full_metric_sample.json").read_bytes(), limit=10**6)
    del alert["data"]["essentials"]["alertId"]
    del alert["data"]["essentials"]["originAlertId"]
    with pytest.raises(PayloadError, match="alertId"):
        extract(alert)


def test_alert_inside_eventgrid_broken_is_a_note() -> None:
    alert = load("alert_log_v2_no_rows.json")
    del alert["data"]["essentials"]["alertId"], alert["data"]["essentials"]["originAlertId"]
    event = {"id": "e1", "eventType": "Alert", "eventTime": "2024-05-01T10:00:00Z", "data": alert}
    out = extract([event, load("eventgrid_single.json")])
    assert len(out.records) == 1 and "alertId" in out.skipped[0]


def test_case_insensitive_keys_everywhere() -> None:
    record = load("graph_record_identity_deleted.json")
    shouted = {k.upper(): v for k, v in record.items()}
    shouted["TARGETRESOURCES"] = [{k.upper(): v for k, v in t.items()} for t in record["targetResources"]]
    for target in shouted["TARGETRESOURCES"]:
        target["MODIFIEDPROPERTIES"] = [{k.upper(): v for k, v in p.items()} for p in target["MODIFIEDPROPERTIES"]]
    out = extract(shouted)
    assert out.records[0].targets[0].app_id == "5b6f0e2c-3c1a-4e0e-9f3e-2a8d6c1b7e44"
    assert out.records[0].initiator.display_name == "Azure AD PowerShell"


def test_records_without_activity_or_id_are_skipped_with_reason() -> None:
    good = load("graph_record_other_app.json")
    no_activity = dict(good, activityDisplayName=None)
    no_id = {k: v for k, v in good.items() if k not in ("id", "correlationId")}
    derived = {k: v for k, v in good.items() if k != "id"}
    out = extract({"value": [good, no_activity, no_id, derived, 7]})
    assert len(out.records) == 2
    assert out.records[1].record_id.startswith("derived_")
    assert len(out.skipped) == 3
    assert "no activity" in out.skipped[0]
    assert "no id" in out.skipped[1]
    assert "a number" in out.skipped[2]


def test_unsupported_payloads() -> None:
    for payload in (None, 1, "text", True, {"error": {"code": "x"}}, [1, 2, 3], [{"a": 1}]):
        with pytest.raises(PayloadError, match="unsupported"):
            extract(payload)
    assert extract([]).records == []


def test_too_many_records() -> None:
    record = load("graph_record_other_app.json")
    with pytest.raises(PayloadError) as info:
        extract({"value": [record] * (MAX_RECORDS + 1)})
    assert info.value.status == 413
    with pytest.raises(PayloadError):
        extract([{"id": str(i), "eventType": "x", "data": {"value": [record] * 10}} for i in range(1001)])


def test_huge_strings_are_capped() -> None:
    record = load("graph_record_other_app.json")
    record["activityDisplayName"] = "Delete service principal" + "x" * 10_000_000
    record["targetResources"][0]["displayName"] = "y" * 5_000_000
    record["targetResources"][0]["modifiedProperties"][0]["newValue"] = "[" + "1," * 1_000_000 + "1]"
    out = extract(record)
    assert len(out.records[0].activity) == NAME_CAP
    assert len(out.records[0].targets[0].display_name or "") == NAME_CAP
    assert isinstance(out.records[0].targets[0].modified[0].new, str)  # too long to decode: kept as text


def test_wrong_types_everywhere_do_not_crash() -> None:
    record = load("graph_page_deletions.json")["value"][0]
    for key in list(record):
        for bad in (None, 1, 2.5, True, "x", [], {}, [1], [None], {"x": []}):
            mutated = copy.deepcopy(record)
            mutated[key] = bad
            extract(mutated)
    target = record["targetResources"][0]
    for key in list(target):
        for bad in (None, 1, [], {}, [1], "[not json"):
            mutated = copy.deepcopy(record)
            mutated["targetResources"][0][key] = bad
            extract(mutated)


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ("[true]", [True]),
        ("[false]", [False]),
        ("[]", []),
        (None, None),
        ('["90db942a-c1eb-4e8d-82e4-eebf64a7e2ae"]', ["90db942a-c1eb-4e8d-82e4-eebf64a7e2ae"]),
        ('"\\"AccountEnabled\\""', "AccountEnabled"),  # double-encoded: both layers
        ('"AccountEnabled, DisplayName"', "AccountEnabled, DisplayName"),
        ('"[\\"a\\"]"', ["a"]),
        ("DirectorySync", "DirectorySync"),
        ("[not json", "[not json"),
        ("[NaN]", "[NaN]"),
        (5, 5),
    ],
)
def test_decode_value(raw: object, decoded: object) -> None:
    assert decode_value(raw) == decoded


def test_decoded_lists_are_not_shared() -> None:
    first = decode_value("[true]")
    first.append(False)
    assert decode_value("[true]") == [True]


@settings(max_examples=300, deadline=None)
@given(
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2999, 12, 31)),
    st.integers(0, 9_999_999),
    st.sampled_from(["Z", "+00:00", "+05:30", "-08:00"]),
)
def test_timestamp_fast_path_agrees_with_parse_timestamp(dt: datetime, fraction: int, zone: str) -> None:
    text = dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{fraction:07d}" + zone
    assert timestamp(text) == parse_timestamp(text)
    plain = dt.strftime("%Y-%m-%dT%H:%M:%S") + zone
    assert timestamp(plain) == parse_timestamp(plain)


def test_eventgrid_data_as_json_text() -> None:
    event = load("eventgrid_single.json")
    event["data"] = json.dumps(event["data"])
    assert extract(event).records[0].record_id == SOFT_ID
