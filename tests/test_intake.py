"""The intake message: what the push triggers enqueue (offline; no Azurite, no simulator)."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from shared.core.catalogue import Catalogue
from shared.core.errors import PayloadError
from shared.core.models import Kind
from shared.core.record_codec import record_from_dict, record_to_dict, window_from_dict, window_to_dict
from shared.detect.intake import MAX_ENCODED_BYTES, IntakeMessage, prepare
from shared.detect.normalize import extract
from shared.detect.payload import parse_json

FIXTURES = Path(__file__).parent / "fixtures" / "payloads"
CATALOGUE = Catalogue()


def load(name: str) -> Any:
    return parse_json((FIXTURES / name).read_bytes(), limit=10 * 1024 * 1024)


@pytest.mark.parametrize(
    "name",
    ["graph_page_deletions.json", "graph_list_updates.json", "loganalytics_auditlogs_rows.json",
     "diagnostic_records_modern.json", "diagnostic_records_legacy.json", "eventgrid_array.json"],
)  # fmt: skip
def test_records_round_trip_exactly(name: str) -> None:
    records = extract(load(name)).records
    assert records
    for record in records:
        again = record_from_dict(json.loads(json.dumps(record_to_dict(record))))
        assert again == record


def test_alert_window_round_trips() -> None:
    (window,) = extract(load("alert_log_v2_no_rows.json")).alerts
    assert window_from_dict(json.loads(json.dumps(window_to_dict(window)))) == window


def test_prepare_drops_other_apps_and_resolved_alerts() -> None:
    other = extract(load("graph_record_other_app.json"))
    intake = prepare(other, CATALOGUE, origin="eventgrid", ref="e1")
    assert intake.messages == [] and intake.dropped == len(other.records) > 0

    alert = extract(load("alert_log_v2_no_rows.json"))
    alert.alerts[0] = replace(alert.alerts[0], condition="Resolved")
    intake = prepare(alert, CATALOGUE, origin="alert", ref="a1")
    assert intake.messages == [] and intake.resolved == [alert.alerts[0].alert_id]


def test_prepare_keeps_webex_records_and_the_message_decodes() -> None:
    extraction = extract(load("graph_page_deletions.json"))
    intake = prepare(extraction, CATALOGUE, origin="eventgrid", ref="e1")
    (msg,) = intake.messages
    decoded = IntakeMessage.from_json(msg.to_json().encode())
    kept = decoded.extraction().records
    assert kept and all(r in extraction.records for r in kept)
    from shared.detect.classify import classify

    assert all(classify(r, CATALOGUE).kind != Kind.UNRELATED for r in kept)


def test_large_batches_split_under_the_queue_limit_after_base64() -> None:
    from shared.core.models import Extraction

    record = extract(load("graph_page_deletions.json")).records[0]
    many = Extraction(records=[replace(record, record_id=f"{record.record_id}-{i}") for i in range(400)])
    intake = prepare(many, CATALOGUE, origin="eventgrid", ref="e1")
    assert len(intake.messages) > 1
    assert sum(len(m.records) for m in intake.messages) == 400
    for m in intake.messages:
        encoded = base64.b64encode(m.to_json().encode("utf-8"))
        assert len(encoded) <= MAX_ENCODED_BYTES < 64 * 1024
    ids = [r["record_id"] for m in intake.messages for r in m.records]
    assert ids == [f"{record.record_id}-{i}" for i in range(400)], "order kept, nothing lost"


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"v": 2}', b'{"v": 1, "origin": "x", "ref": "r", "records": {}}',
     b'{"v": 1, "origin": "x", "ref": "r", "records": [{"record_id": "a"}]}',
     b'{"v": 1, "origin": "x", "ref": "r", "alerts": [{"alert_id": "a", "condition": "Fired", "start": "x"}]}',
     b"\xff\xfe"],
)  # fmt: skip
def test_bad_intake_messages_are_permanent_errors(body: bytes) -> None:
    with pytest.raises(PayloadError):
        IntakeMessage.from_json(body)
