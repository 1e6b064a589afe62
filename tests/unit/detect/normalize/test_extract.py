"""``extract``: which shape a payload is read as, and what it says about the ones it cannot read —
every answer written out (shared/detect/normalize/__init__.py)."""

from __future__ import annotations

from typing import Any

import pytest

from shared.core.errors import PayloadError
from shared.detect.normalize import extract
from shared.detect.normalize._util import TooManyRecords


def read(payload: Any) -> tuple[list[tuple[str, str, str]], list[str]]:
    out = extract(payload)
    return [(r.record_id, r.activity, str(r.source)) for r in out.records], out.skipped


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({}, "unsupported payload: object with keys (none)"),
        ({1: 2}, "unsupported payload: object with keys (none)"),
        (
            {"a" * 30: 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6},
            "unsupported payload: object with keys 'aaaaaaaaaaaaaaaaaaaa', 'b', 'c', 'd', 'e'",
        ),
        (
            {c * 25: 1 for c in "abcdef"},
            "unsupported payload: object with keys 'aaaaaaaaaaaaaaaaaaaa', 'bbbbbbbbbbbbbbbbbbbb', "
            "'cccccccccccccccccccc', 'dddddddddddddddddddd', 'eee",
        ),
        (
            {"operationName": "Delete service principal", "properties": 5},
            "object with keys 'operationName', 'properties'",
        ),
        (5, "unsupported payload: a JSON number, expected an object or array"),
        (1.5, "unsupported payload: a JSON number, expected an object or array"),
        ("x", "unsupported payload: a JSON string, expected an object or array"),
        (None, "unsupported payload: a JSON null, expected an object or array"),
        (True, "unsupported payload: a JSON boolean, expected an object or array"),
        ([1, "x"], "unsupported payload: none of the 2 array items is a supported shape"),
    ],
)
def test_what_cannot_be_read_is_named(payload: Any, message: str) -> None:
    with pytest.raises(PayloadError) as raised:
        extract(payload)
    assert str(raised.value).endswith(message)


def test_an_array_keeps_what_it_can_read_and_notes_the_rest() -> None:
    payload = [{"id": "r1", "activityDisplayName": "Delete service principal"}, 5, {"z": 1}]
    assert read(payload) == (
        [("r1", "Delete service principal", "graph")],
        ["item 1: a number", "item 2: unsupported object"],
    )


@pytest.mark.parametrize(
    ("payload", "record"),
    [
        ({"operationName": "Delete service principal", "id": "r1"}, ("r1", "Delete service principal", "graph")),
        (
            {"ActivityDisplayName": "Delete service principal", "Id": "r3"},
            ("r3", "Delete service principal", "loganalytics"),
        ),
        (
            {"activityDisplayName": "Delete service principal", "id": "r4", "TimeGenerated": "2024-05-01T10:00:00Z"},
            ("r4", "Delete service principal", "loganalytics"),
        ),
        ({"activityDisplayName": "Delete service principal", "id": "r5"}, ("r5", "Delete service principal", "graph")),
        (
            {
                "operationName": "Delete service principal",
                "id": "r1",
                "properties": {"id": "p1", "activityDisplayName": "x"},
            },
            ("p1", "x", "diagnostic"),
        ),
        (
            {
                "operationName": "Delete",
                "id": "r1",
                "properties": '{"id": "p2", "activityDisplayName": "Add service principal"}',
            },
            ("p2", "Add service principal", "diagnostic"),
        ),
    ],
)
def test_one_record_is_routed_by_its_keys(payload: dict[str, Any], record: tuple[str, str, str]) -> None:
    assert read(payload) == ([record], [])


def test_a_graph_page_notes_items_that_are_not_objects() -> None:
    page = {"value": [{"id": "r6", "activityDisplayName": "Delete service principal"}, 7]}
    assert read(page) == (
        [("r6", "Delete service principal", "graph")],
        ["value 1: a number, not a directoryAudit object"],
    )


def test_more_than_10000_items_is_refused_before_reading() -> None:
    with pytest.raises(TooManyRecords, match="payload holds more than 10000 records"):
        extract([{}] * 10_001)
    with pytest.raises(TooManyRecords):
        extract({"value": [{}] * 10_001})
    records, _ = read([{"id": f"r{i}", "activityDisplayName": "x"} for i in range(10_000)])
    assert len(records) == 10_000


def test_a_page_of_exactly_10000_items_is_read() -> None:
    out = extract({"value": [{}] * 10_000})
    assert (len(out.records), len(out.skipped), out.skipped[0]) == (0, 10_000, "value 0: record has no activity name")


def test_diagnostic_records_without_properties_or_of_another_category_are_noted() -> None:
    audit = {"id": "p1", "activityDisplayName": "Delete service principal"}
    records = [
        {"operationName": "x", "properties": "not json"},
        {"operationName": "Sign-in activity", "category": "SignInLogs", "properties": {"id": "s1"}},
        {"operationName": "Delete service principal", "category": "AuditLogs", "properties": audit},
    ]
    assert read({"records": records}) == (
        [("p1", "Delete service principal", "diagnostic")],
        ["records 0: record has no properties object", "records 1: category 'SignInLogs' is not an audit log"],
    )
