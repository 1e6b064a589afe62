"""Event Grid and CloudEvents envelopes through ``extract``: how deep they may nest, what a broken
``data`` leaves behind, and the tenant an envelope names (shared/detect/normalize/__init__.py)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from shared.core.errors import PayloadError
from shared.core.models import Extraction
from shared.detect.normalize import extract, extract_json, extract_page, object_into
from shared.detect.normalize._util import Context, TooManyRecords

TENANT = "3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
RECORD = {"id": "r1", "activityDisplayName": "Delete service principal"}


def event(data: Any, n: int) -> dict[str, Any]:
    return {"id": f"e{n}", "eventType": "Microsoft.Audit", "data": data}


def nested(levels: int) -> Any:
    payload: Any = RECORD
    for n in range(levels):
        payload = event(payload, n)
    return payload


def cloud_event(**fields: Any) -> dict[str, Any]:
    encoded = base64.b64encode(json.dumps(RECORD).encode()).decode()
    return {"specversion": "1.0", "type": "t", "id": "c1", "data_base64": encoded, **fields}


def test_four_envelopes_deep_are_read_and_a_fifth_is_noted() -> None:
    four = extract(nested(4))
    assert ([r.record_id for r in four.records], four.skipped) == (["r1"], [])
    five = extract(nested(5))
    assert five.records == []
    assert five.skipped == [
        "event 'e4' ('Microsoft.Audit') event 'e3' ('Microsoft.Audit') event 'e2' ('Microsoft.Audit') "
        "event 'e1' ('Microsoft.Audit') event 'e0' ('Microsoft.Audit'): envelopes nested too deep"
    ]


def test_the_validation_handshake_is_noted_and_the_rest_read() -> None:
    handshake = {"id": "v", "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent", "data": {"code": "x"}}
    out = extract([handshake, event(RECORD, 1)])
    assert [r.record_id for r in out.records] == ["r1"]
    assert out.skipped == [
        "item 0: event 'v' ('Microsoft.EventGrid.SubscriptionValidationEvent'): "
        "subscription validation handshake, answered by the trigger"
    ]


def test_a_cloud_event_in_base64_takes_the_tenant_its_source_names() -> None:
    out = extract(cloud_event(source=f"/tenants/{TENANT}/providers/Microsoft.aadiam"))
    assert [(r.record_id, r.tenant_id) for r in out.records] == [("r1", TENANT)]
    assert out.skipped == []
    plain = extract(cloud_event(source="/subscriptions/x"))
    assert [(r.record_id, r.tenant_id) for r in plain.records] == [("r1", None)]


@pytest.mark.parametrize(
    ("data_base64", "why"),
    [(5, "data_base64 is not a string"), ("not base64!", "data_base64 is not valid base64")],
)
def test_unreadable_base64_is_noted_and_the_next_event_read(data_base64: Any, why: str) -> None:
    out = extract([cloud_event(data_base64=data_base64), event(RECORD, 2)])
    assert [r.record_id for r in out.records] == ["r1"]
    assert out.skipped == [f"item 0: event 'c1' ('t'): data unreadable: {why}"]


def test_a_broken_part_of_an_events_data_takes_the_records_read_before_it_along() -> None:
    broken_alert = {"schemaId": "azureMonitorCommonAlertSchema", "data": {"essentials": {}}}
    first = dict(RECORD, id="r0")
    out = extract([event([first, broken_alert], 3), event(RECORD, 4)])
    assert [r.record_id for r in out.records] == ["r1"]
    assert out.skipped == ["item 0: event 'e3' ('Microsoft.Audit'): data unreadable: alert has no data.essentials"]


def test_data_as_json_text_is_read_and_data_of_no_shape_is_noted() -> None:
    text = json.dumps(dict(RECORD, id="r9"))
    out = extract([event(text, 5), event(7, 6)])
    assert [r.record_id for r in out.records] == ["r9"]
    assert out.skipped == ["item 1: event 'e6' ('Microsoft.Audit'): data is not a supported audit or alert shape"]


ALERT = {
    "schemaId": "azureMonitorCommonAlertSchema",
    "data": {
        "essentials": {"alertId": "a1", "alertRule": "rule", "signalType": "Log"},
        "alertContext": {
            "condition": {"windowStartTime": "2024-05-01T10:15:00Z", "windowEndTime": "2024-05-01T10:20:00Z"}
        },
    },
}
BROKEN_ALERT = {"schemaId": "azureMonitorCommonAlertSchema", "data": {"essentials": {}}}


def listed(levels: int) -> Any:
    """Envelopes whose data is an array holding the next one."""
    payload: Any = RECORD
    for n in range(levels):
        payload = event([payload], n)
    return payload


def test_envelopes_nest_to_the_same_depth_in_arrays_and_under_a_top_level_array() -> None:
    assert [r.record_id for r in extract(listed(4)).records] == ["r1"]
    assert extract(listed(4)).skipped == []
    assert extract(listed(5)).records == []
    assert [r.record_id for r in extract([nested(4)]).records] == ["r1"]
    deep = extract([nested(5)])
    assert deep.records == []
    assert deep.skipped[0].startswith("item 0: event 'e4'")
    assert deep.skipped[0].endswith("event 'e0' ('Microsoft.Audit'): envelopes nested too deep")


def test_object_into_reads_one_object_at_the_top_depth() -> None:
    out, ctx = Extraction(), Context()
    assert object_into(nested(4), out, ctx, "line 3: ") is True
    assert [r.record_id for r in out.records] == ["r1"]
    assert object_into({"z": 1}, out, ctx, "line 4: ") is False
    assert object_into(nested(5), out, ctx, "line 5: ") is True
    assert ctx.skipped[-1].startswith("line 5: event 'e4'")


def test_a_broken_part_removes_only_what_its_own_event_added() -> None:
    """Records and windows read before the event stay; those its data gave before the break go."""
    first = dict(RECORD, id="r0")
    out = extract([first, event([dict(RECORD, id="r1"), ALERT, BROKEN_ALERT], 1), ALERT])
    assert [r.record_id for r in out.records] == ["r0"]
    assert [a.alert_id for a in out.alerts] == ["a1"]
    assert out.skipped == ["item 1: event 'e1' ('Microsoft.Audit'): data unreadable: alert has no data.essentials"]


def test_the_envelopes_tenant_reaches_only_the_records_of_its_own_data() -> None:
    source = f"/tenants/{TENANT}/providers/Microsoft.aadiam"
    out = extract([dict(RECORD, id="r0"), cloud_event(source=source)])
    assert [(r.record_id, r.tenant_id) for r in out.records] == [("r0", None), ("r1", TENANT)]


def test_a_cloud_event_with_inline_data_and_base64_with_a_stray_character() -> None:
    inline = {"specversion": "1.0", "type": "t", "id": "c2", "data": RECORD}
    assert [r.record_id for r in extract(inline).records] == ["r1"]
    encoded = cloud_event()["data_base64"]
    stray = extract([cloud_event(data_base64=encoded[:4] + "!" + encoded[4:]), event(RECORD, 2)])
    assert stray.skipped == ["item 0: event 'c1' ('t'): data unreadable: data_base64 is not valid base64"]


@pytest.mark.parametrize(
    ("payload", "records", "skipped"),
    [
        # "type" alone is no CloudEvent, "eventType" alone no Event Grid event: both are records here
        ({"type": "x", "id": "r1", "activityDisplayName": "Delete service principal"}, ["r1"], []),
        ({"eventType": "x", "id": "r1", "activityDisplayName": "Delete service principal"}, ["r1"], []),
        (
            {"id": "e9", "eventType": "t", "eventTime": "2024-05-01T10:00:00Z"},
            [],
            ["event 'e9' ('t'): data is not a supported audit or alert shape"],
        ),
        ({"value": []}, [], []),
        ({"@odata.context": "x", "value": [5]}, [], ["value 0: a number, not a directoryAudit object"]),
    ],
)
def test_which_reader_an_object_gets(payload: dict[str, Any], records: list[str], skipped: list[str]) -> None:
    out = extract(payload)
    assert ([r.record_id for r in out.records], out.skipped) == (records, skipped)


def test_a_value_list_of_non_objects_without_odata_context_is_no_page() -> None:
    with pytest.raises(PayloadError, match="object with keys 'value'"):
        extract({"value": [5]})


def test_diagnostic_records_modern_legacy_and_not_objects() -> None:
    modern = {
        "category": "AuditLogs",
        "operationName": "Delete service principal",
        "tenantId": TENANT,
        "properties": {"id": "r1", "activityDisplayName": "Delete service principal"},
    }
    legacy = {
        "category": "Audit",
        "operationName": "Delete service principal",
        "time": "2019-03-22T13:36:31Z",
        "correlationId": "c-1",
        "properties": {"targetResourceName": "Cisco Webex Identity Integration"},
    }
    out = extract({"records": [modern, legacy, 5]})
    assert [(r.record_id[:8], r.source.value, r.tenant_id) for r in out.records] == [
        ("r1", "diagnostic", TENANT),
        ("derived_", "diagnostic", None),
    ]
    assert out.skipped == ["records 2: a number, not a record object"]


def test_query_tables_are_read() -> None:
    table = {
        "name": "PrimaryResult",
        "columns": [{"name": "Id"}, {"name": "ActivityDisplayName"}],
        "rows": [["r1", "Delete service principal"]],
    }
    assert [r.record_id for r in extract({"tables": [table]}).records] == ["r1"]


@pytest.mark.parametrize(
    "payload",
    [
        [{"value": [RECORD] * 5_000}, {"value": [RECORD] * 5_000}],  # 2 items + 10,000 records
        [{"records": [5] * 5_000}, {"records": [5] * 5_000}],
    ],
    ids=["pages", "diagnostic"],
)
def test_array_items_count_against_the_record_budget_with_what_they_hold(payload: Any) -> None:
    with pytest.raises(TooManyRecords):
        extract(payload)


def test_exactly_10000_diagnostic_records_are_read() -> None:
    assert len(extract({"records": [5] * 10_000}).skipped) == 10_000
    with pytest.raises(TooManyRecords):
        extract({"records": [5] * 10_001})


def test_bytes_and_text_read_alike_and_a_declined_page_keeps_its_next_link() -> None:
    page = {"@odata.nextLink": "https://graph/next", "value": [dict(RECORD, extra={"x": 1})]}
    raw = json.dumps(page)
    for data in (raw, raw.encode()):
        out, link = extract_page(data, limit=len(raw), repeated_keys="refuse")  # type: ignore[arg-type]
        assert ([r.record_id for r in out.records], link) == (["r1"], "https://graph/next")
        assert [r.record_id for r in extract_json(data, limit=len(raw)).records] == ["r1"]
    _, no_link = extract_page(json.dumps({"@odata.nextLink": 5, "value": []}).encode(), limit=100, repeated_keys="last")
    assert no_link is None
