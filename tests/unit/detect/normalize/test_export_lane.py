"""shared/detect/normalize/export_lane.py, fast: when the typed lane takes a Graph page on disk and
when it steps aside (``graph_file`` is ``None``), where it stops part-way, and what its records and
line summaries hold, on small files in ``tmp_path``. Expected values are literals; that the lane's
answer equals the streaming reader's is tests/test_export_lane.py's and test_export_lane_summary.py's."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shared.core.models import AuditRecord, Initiator
from shared.detect.normalize import export_lane
from shared.detect.normalize.deferred import DeferredRecord
from shared.detect.normalize.export_lane import GraphFileLane, graph_file

APP = "90db942a-c1eb-4e8d-82e4-eebf64a7e2ae"
CAP = 1024 * 1024


def record(n: int, activity: str = "Update user", **more: Any) -> dict[str, Any]:
    return {"id": f"r{n}", "activityDisplayName": activity, **more}


def page_text(records: list[Any], **members: Any) -> str:
    return json.dumps({**members, "value": records}, separators=(",", ":"))


@pytest.fixture
def lane_of(tmp_path: Path) -> Iterator[Any]:
    opened: list[Any] = []

    def lane(text: str | bytes, *, item_cap: int = CAP, batch: int = 100) -> GraphFileLane | None:
        path = tmp_path / f"page{len(opened)}.json"
        path.write_bytes(text.encode() if isinstance(text, str) else text)
        stream = path.open("rb")
        opened.append(stream)
        return graph_file(stream, stream.read(1024 * 1024), item_cap=item_cap, batch=batch)

    yield lane
    for stream in opened:
        stream.close()


def user_target(*props: dict[str, Any]) -> dict[str, Any]:
    return {"id": "t1", "type": "User", "modifiedProperties": list(props)}


def records_of(lane: GraphFileLane | None) -> list[AuditRecord]:
    assert lane is not None
    return [r for part in lane for r in part.records]


def test_a_compact_page_is_read_whole(lane_of: Any) -> None:
    lane = lane_of(page_text([record(1), record(2)], **{"@odata.context": "https://graph/x:y"}))
    assert [r.record_id for r in records_of(lane)] == ["r1", "r2"]
    assert (lane.taken, lane.complete) == (2, True)


def test_batches_of_the_given_size(lane_of: Any) -> None:
    lane = lane_of(page_text([record(n) for n in range(5)]), batch=2)
    assert lane is not None
    assert [[r.record_id for r in part.records] for part in lane] == [["r0", "r1"], ["r2", "r3"], ["r4"]]


def test_a_page_with_whitespace_between_items_counts_every_colon(lane_of: Any) -> None:
    text = '{"@odata.nextLink": "https://graph/next?a:b", "value": [\n  ' + json.dumps(record(1)) + " ,\n  "
    text += json.dumps(record(2)) + "\n]}\n"
    assert [r.record_id for r in records_of(lane_of(text))] == ["r1", "r2"]


@pytest.mark.parametrize(
    "text",
    [
        "",  # empty
        "\ufeff" + page_text([record(1)]),  # a byte-order mark
        page_text([record(1)])[:-1],  # truncated
        '{"value":[],"value":[' + json.dumps(record(1)) + "]}",  # value written twice
        '{"@odata.context":"a","@odata.context":"b","value":[]}',
        '{"other":1,"value":[]}',  # another member
        '{"@odata.context":"\\u003a","value":[' + json.dumps(record(1)) + "]}",  # a colon as an escape
        '{"@odata.context":"\\u003A","value":[' + json.dumps(record(1)) + "]}",
        '{"@odata.context":"\\u003a", "value": [ ' + json.dumps(record(1)) + " ]}",  # not compact
        '{"value":[' + json.dumps(record(1)) + '], "@odata.nextLink": "\\u003a:"}',
        "[" + json.dumps(record(1)) + "]",  # no page
    ],
)
def test_the_lane_steps_aside(lane_of: Any, text: str) -> None:
    assert lane_of(text) is None


def test_colons_of_a_repeated_member_hidden_in_strings_are_counted(lane_of: Any) -> None:
    # a "value" written twice, the colon count made up by the context's own colons: still refused
    text = '{"@odata.context":"a:b","value":[],"value":[' + json.dumps(record(1)) + "]}"
    assert lane_of(text) is None
    text = '{"@odata.context":"a:b", "value":[], "value":[ ' + json.dumps(record(1)) + " ]}"
    assert lane_of(text) is None


def test_not_a_regular_file(lane_of: Any) -> None:
    text = page_text([record(1)]).encode()
    assert graph_file(io.BytesIO(text), text, item_cap=CAP, batch=10) is None


def test_items_near_the_cap(lane_of: Any) -> None:
    one = json.dumps(record(1), separators=(",", ":"))
    text = page_text([record(1)])
    outside = len(text) - len(one)
    assert lane_of(text, item_cap=outside + len(one)) is not None
    assert lane_of(text, item_cap=outside + len(one) - 1) is None


def test_the_lane_stops_at_the_first_item_its_schema_refuses(lane_of: Any) -> None:
    lane = lane_of(page_text([record(1), record(2), record(3, extra=1), record(4)]), batch=2)
    assert lane is not None
    parts = [[r.record_id for r in part.records] for part in lane]
    assert parts == [["r1", "r2"], []]
    assert (lane.taken, lane.complete) == (2, False)


def test_an_empty_value_array(lane_of: Any) -> None:
    lane = lane_of('{"value":[]}')
    assert records_of(lane) == []
    assert (lane.taken, lane.complete) == (0, True)


def test_records_no_rule_reads_are_deferred_with_a_summary(lane_of: Any) -> None:
    rec = record(
        1,
        activityDateTime="2024-05-01T10:00:12Z",
        initiatedBy={"user": {"id": "u1", "userPrincipalName": "a@b.c", "ipAddress": "10.0.0.1"}},
        targetResources=[{"id": "t1", "type": "ServicePrincipal"}],
        additionalDetails=[{"key": "AppId", "value": f" {APP.upper()} "}],
    )
    (found,) = records_of(lane_of(page_text([rec])))
    assert isinstance(found, DeferredRecord)
    when = datetime(2024, 5, 1, 10, 0, 12, tzinfo=UTC)
    assert found.line_summary() == (None, when, Initiator("user", "u1", None, "a@b.c", "10.0.0.1"), "t1", APP)
    assert found.may_mention((b"nothing",)) is True  # no text kept: it cannot tell


@pytest.mark.parametrize(
    ("target", "details", "expected"),
    [
        ({"id": "t1", "appId": "own"}, None, "own"),
        ({"id": "t1", "appId": ""}, [{"key": "AppId", "value": APP}], APP),
        ({"id": "t1", "Type": "User"}, [{"key": "AppId", "value": APP}], None),
        ({"id": "t1", "Type": "Application"}, [{"key": "AppId", "value": APP}], APP),
        ({"id": "t1", "type": "User", "Type": "Application"}, [{"key": "AppId", "value": APP}], None),
        ({"id": "t1"}, [{"key": "AppId", "value": "  "}], None),
        ({"id": "t1"}, [{"key": None, "value": "x"}, {"key": "APPID", "value": APP}], APP),
        ({"id": "t1"}, [{"key": "AppId", "value": None}, {"key": "AppId", "value": APP}], APP),
        (user_target({"displayName": "AppId", "newValue": f'["{APP}"]'}), None, APP),
        (user_target({"displayName": "AppId", "oldValue": f'["{APP.upper()}"]'}), None, APP),
        (user_target({"displayName": "Other", "newValue": f'["{APP}"]'}), None, None),
        (user_target({"displayName": None, "newValue": f'["{APP}"]'}), None, None),
        ({"id": "t1", "type": "User", "modifiedProperties": []}, None, None),
        ({"id": "t1", "type": "User", "modifiedProperties": None}, None, None),
        ({"id": "x" * 1100}, None, None),
    ],
)  # fmt: skip
def test_the_summary_app_id(lane_of: Any, target: dict[str, Any], details: Any, expected: str | None) -> None:
    rec = record(1, targetResources=[target, {"id": "t2", "appId": "second"}])
    if details is not None:
        rec["additionalDetails"] = details
    (found,) = records_of(lane_of(page_text([rec])))
    assert isinstance(found, DeferredRecord)
    summary = found.line_summary()
    assert summary is not None
    assert summary[3] == target["id"][:1024]
    assert summary[4] == expected


def test_the_trusted_order_and_the_last_of_a_name(lane_of: Any) -> None:
    other = "11111111-2222-4333-8444-555555555555"
    props = [
        {"displayName": "TargetId.ServicePrincipalNames", "newValue": f'["{other}"]'},
        {"displayName": "AppId", "newValue": f'["{other}"]'},
        {"displayName": "APPID", "newValue": f'["{APP}"]'},
    ]
    rec = record(1, targetResources=[{"id": "t1", "type": "User", "modifiedProperties": props}])
    (found,) = records_of(lane_of(page_text([rec])))
    assert isinstance(found, DeferredRecord)
    summary = found.line_summary()
    assert summary is not None
    assert summary[4] == APP


def test_only_the_first_200_properties_and_100_details(lane_of: Any) -> None:
    filler = [{"displayName": f"p{n}", "newValue": "[]"} for n in range(199)]
    last = {"displayName": "AppId", "newValue": f'["{APP}"]'}
    details = [{"key": f"k{n}", "value": "v"} for n in range(99)]
    appid = {"key": "AppId", "value": APP}
    recs = [
        record(1, targetResources=[{"id": "t", "type": "User", "modifiedProperties": [*filler, last]}]),
        record(2, targetResources=[{"id": "t", "type": "User", "modifiedProperties": [*filler, {}, last]}]),
        record(3, targetResources=[{"id": "t"}], additionalDetails=[*details, appid]),
        record(4, targetResources=[{"id": "t"}], additionalDetails=[*details, {}, appid]),
    ]
    found = records_of(lane_of(page_text(recs)))
    summaries = [r.line_summary() for r in found if isinstance(r, DeferredRecord)]
    assert [s[4] if s else "missing" for s in summaries] == [APP, None, APP, None]


def test_property_names_are_remembered_and_the_memory_is_bounded(lane_of: Any) -> None:
    export_lane._NAME_KEYS.clear()
    props = [{"displayName": f"name{n}", "newValue": "[]"} for n in range(1100)][:200]
    rec = record(1, targetResources=[{"id": "t", "type": "User", "modifiedProperties": props}])
    (found,) = records_of(lane_of(page_text([rec])))
    assert isinstance(found, DeferredRecord)
    summary = found.line_summary()
    assert summary is not None
    assert summary[4] is None
    assert export_lane._NAME_KEYS["name7"] == ""
    long_name = "AppId" + " " * 300
    assert export_lane._name_key(long_name) == ""
    assert long_name not in export_lane._NAME_KEYS
    assert export_lane._name_key("appId") == "appid"
    assert export_lane._NAME_KEYS["appId"] == "appid"
    for n in range(1024):
        export_lane._name_key(f"filler{n}")
    assert len(export_lane._NAME_KEYS) <= 1024


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (f'["{APP}"]', APP),
        (f'["{APP.upper()}"]', APP),
        (f'["{APP}x"]', APP),
        (f'[ "{APP}" ]', APP),
        (f'["{APP[:-1]}g"]', None),
        (None, None),
    ],
)
def test_a_property_value_guid(value: str | None, expected: str | None) -> None:
    assert export_lane._guid(value) == expected


def test_records_a_rule_reads_keep_their_text_when_it_can_vouch(lane_of: Any) -> None:
    plain = record(1, "Delete service principal", targetResources=[{"id": "t1", "appId": APP}])
    odd = record(2, "Delete service principal", targetResources=[{"id": "t2", "displayName": "Ünïcode"}])
    escaped = record(3, "Delete service principal", targetResources=[{"id": "t3", "displayName": "a\\b"}])
    first, second, third = records_of(lane_of(page_text([plain, odd, escaped])))
    assert isinstance(first, DeferredRecord)
    assert first.may_mention((APP.encode(),)) is True
    assert first.may_mention((b"absent-name",)) is False
    summary = first.line_summary()
    assert summary is not None
    assert summary[3:] == ("t1", APP)
    assert type(second) is AuditRecord
    assert second.targets[0].display_name == "Ünïcode"
    assert type(third) is AuditRecord


@pytest.mark.parametrize(
    ("rec", "expected", "notes"),
    [
        ({"id": "r1", "activityDisplayName": "x" * 1025}, [("r1", "x" * 1024)], []),
        ({"id": "x" * 1025, "activityDisplayName": "Update user"}, [("x" * 1024, "Update user")], []),
        (
            {"id": "", "activityDisplayName": "Update user", "correlationId": "c", "activityDateTime": "t"},
            [("derived_f94d1b69fdb2321696f70561ae6f41f4", "Update user")],
            [],
        ),
        ({"id": "r1", "activityDisplayName": "   "}, [], ["value 0: record has no activity name"]),
        (
            {"id": None, "activityDisplayName": "Update user"},
            [],
            ["value 0: record 'Update user' has no id and no correlationId+time to derive one"],
        ),
        ({"id": "r1", "activityDisplayName": None}, [], ["value 0: record has no activity name"]),
    ],
)
def test_records_the_typed_lane_leaves_to_the_generic_reader(
    lane_of: Any, rec: dict[str, Any], expected: list[tuple[str, str]], notes: list[str]
) -> None:
    lane = lane_of(page_text([rec]))
    assert lane is not None
    parts = list(lane)
    assert [(r.record_id, r.activity) for part in parts for r in part.records] == expected
    assert [note for part in parts for note in part.skipped] == notes


def test_a_long_activity_and_id_at_the_cap_are_deferred(lane_of: Any) -> None:
    rec = {"id": "i" * 1024, "activityDisplayName": " " + "a" * 1023}
    (found,) = records_of(lane_of(page_text([rec])))
    assert isinstance(found, DeferredRecord)
    assert (found.record_id, found.activity) == ("i" * 1024, "a" * 1023)
    assert found.line_summary() == (None, None, Initiator(), None, None)  # the lane's own, with its summary


def test_an_app_initiator_and_no_initiator(lane_of: Any) -> None:
    recs = [
        record(1, initiatedBy={"app": {"displayName": "Tool", "servicePrincipalId": "sp"}}),
        record(2, initiatedBy={"user": {"id": None}, "app": None}),
        record(3, initiatedBy=None),
        record(4, initiatedBy={"user": {"displayName": "x" * 1100}}),
    ]
    found = records_of(lane_of(page_text(recs)))
    summaries = [r.line_summary() for r in found if isinstance(r, DeferredRecord)]
    assert [s[2] if s else None for s in summaries] == [
        Initiator("app", "sp", "Tool"),
        Initiator(),
        Initiator(),
        Initiator("user", None, "x" * 1024),
    ]


def test_an_empty_page_fits_a_cap_of_its_own_size(lane_of: Any) -> None:
    text = '{"value":[]}'
    assert lane_of(text, item_cap=len(text)) is not None
    assert lane_of(text, item_cap=len(text) - 1) is None
