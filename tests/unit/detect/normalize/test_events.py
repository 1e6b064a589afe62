"""Event Grid and CloudEvents envelopes through ``extract``: how deep they may nest, what a broken
``data`` leaves behind, and the tenant an envelope names (shared/detect/normalize/__init__.py)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from shared.detect.normalize import extract

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
