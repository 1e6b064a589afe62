"""shared/detect/normalize/export_lane.py with a ``Render``: each record no rule reads goes from its
typed form straight to the caller's line (``_glance``), and what that line holds — the first
target's id and app id, the event time as ``format_timestamp`` writes it, the initiator's label —
equals the line summary of the record ``_deferred`` builds for the same item (whose own agreement
with the streaming reader is test_export_lane_summary.py's), on generated, malformed and hostile
values. The CLI's end-to-end agreement is tests/test_export_lane.py's."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.core.clock import format_timestamp
from shared.core.models import AuditRecord, Source
from shared.detect.normalize import export_lane
from shared.detect.normalize._util import timestamp
from shared.detect.normalize.deferred import DeferredRecord
from shared.detect.normalize.export_lane import Glanced, Rendered, graph_file
from tests.unit.detect.normalize.test_export_lane_summary import _initiated, _object, _records


def render(**facts: Any) -> dict[str, Any]:
    """A ``Render`` that keeps what it was given."""
    return facts


def expected_time(value: Any) -> str | None:
    when = timestamp(None if value is msgspec.UNSET else value)
    return format_timestamp(when) if when is not None else None


# --- event times --------------------------------------------------------------------------------

_digits = st.text(alphabet="0123456789", min_size=1, max_size=9)
_shaped = st.builds(
    lambda year, month, day, hour, minute, second, fraction, zone: (
        f"{year}-{month}-{day}T{hour}:{minute}:{second}.{fraction}{zone}"
    ),
    st.sampled_from(["2024", "0999", "1000", "9999", "0000", "２０２４", "2O24"]),
    st.sampled_from(["05", "02", "12", "13", "00", "5"]),
    st.sampled_from(["01", "29", "30", "31", "00", "1"]),
    st.sampled_from(["00", "10", "23", "24", "1"]),
    st.sampled_from(["00", "59", "60", "5", "٠٠"]),
    st.sampled_from(["00", "12", "59", "60", "61"]),
    st.one_of(_digits, st.sampled_from(["6840583", "684058", "٠١٢٣٤٥٦", "123456z"])),
    st.sampled_from(["Z", "+00:00", "-00:00", "+01:00", "z", "", " ", "Z ", "+00:00:00", "+0000"]),
)
_times = st.one_of(
    _shaped,
    st.sampled_from(["3/22/2019 1:36:31 PM", "2024-05-01T10:00:12Z", "2024-W18-3T10:00:12Z", "", " "]),
    st.text(max_size=40),
    st.none(),
    st.just(msgspec.UNSET),
)


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(_times)
def test_an_event_time_is_format_timestamp_of_timestamp(value: Any) -> None:
    assert export_lane._event_time(value) == expected_time(value)
    assert export_lane._event_time(value) == expected_time(value)  # again, with its hour remembered


@settings(max_examples=800, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_shaped, min_size=2, max_size=6))
def test_a_remembered_hour_vouches_only_for_graph_s_shape(values: list[str]) -> None:
    """Values sharing the hour of one read before: only those in Graph's shape are cut."""
    hour = "2024-05-01T10:"
    export_lane._event_time(hour + "00:00.0000000Z")
    for shaped in values:
        value = hour + shaped[14:]
        assert export_lane._event_time(value) == expected_time(value)


def test_event_time_edges() -> None:
    cut = export_lane._event_time
    assert cut("2024-05-01T10:00:12.6840583+00:00") == "2024-05-01T10:00:12.684058Z"  # truncated, not rounded
    assert cut("2024-05-01T10:00:12.9999999Z") == "2024-05-01T10:00:12.999999Z"
    assert cut("2024-05-01T10:00:12.684058Z") == "2024-05-01T10:00:12.684058Z"
    assert cut("2024-05-01T10:59:59.1234567+02:00") == "2024-05-01T08:59:59.123456Z"  # another zone: parsed
    assert cut("2024-02-30T10:00:12.6840583Z") is None  # no such day, whatever is remembered
    assert cut("2024-05-01T10:60:12.6840583Z") == expected_time("2024-05-01T10:60:12.6840583Z")
    assert cut("0999-05-01T10:00:12.6840583Z") == expected_time("0999-05-01T10:00:12.6840583Z")
    assert "0999-05-01T10:" not in export_lane._HOURS  # a year format_timestamp writes otherwise
    assert cut(None) is None and cut(msgspec.UNSET) is None and cut("") is None


def test_the_hours_kept_stay_bounded() -> None:
    start = datetime(2024, 5, 1, tzinfo=UTC)
    for n in range(5000):
        value = (start + timedelta(hours=n)).strftime("%Y-%m-%dT%H:%M:%S.1234567Z")
        assert export_lane._event_time(value) == value[:26] + "Z"
    assert 0 < len(export_lane._HOURS) <= 4096


def test_a_huge_time_is_not_remembered() -> None:
    value = "2024-05-01T11:00:12." + "1" * 100_000 + "Z"
    assert export_lane._event_time(value) == expected_time(value)
    assert all(len(hour) == 14 for hour in export_lane._HOURS)


# --- labels and the whole line -------------------------------------------------------------------


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(_initiated)
def test_a_label_is_the_initiator_s_label(initiated: Any) -> None:
    typed = export_lane._RECORD.decode(json.dumps(_object(id="r1", initiatedBy=initiated)))
    given = typed.initiatedBy
    made = export_lane._initiator(given) if type(given) is export_lane._Initiator else export_lane._NO_INITIATOR
    assert export_lane._label(typed.initiatedBy) == made.label


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(_records, st.sampled_from(["Update user", "  Add member to group ", "Update service principal", "", " "]))
def test_a_glance_is_the_deferred_record_s_summary(record: dict[str, Any], activity: str) -> None:
    typed = export_lane._RECORD.decode(json.dumps({**record, "activityDisplayName": activity}))
    line = export_lane._glance(typed, render)
    deferred = export_lane._deferred(typed)
    if line is None:  # a rule reads it, or the deferred reader would not take it either
        assert deferred is None or deferred.activity == "Update service principal"
        return
    assert isinstance(deferred, DeferredRecord)
    summary = deferred.line_summary()
    assert summary is not None
    tenant, when, initiator, target_id, app_id = summary
    assert tenant is None  # the line shows the configured tenant: the Render is not given one
    assert line == {
        "record_id": deferred.record_id,
        "activity": deferred.activity,
        "app_id": app_id,
        "event_time": format_timestamp(when) if when else None,
        "initiator": initiator.label,
        "source": Source.GRAPH,
        "target_id": target_id,
    }


# --- rendered batches ---------------------------------------------------------------------------


def _lane(tmp_path: Path, records: list[Any], **kwargs: Any) -> Any:
    path = tmp_path / "page.json"
    path.write_text(json.dumps({"value": records}, separators=(",", ":")), encoding="utf-8")
    stream = path.open("rb")
    lane = graph_file(stream, stream.read(), item_cap=1 << 20, **kwargs)
    return stream, lane


def test_rendered_batches_keep_file_order_and_stop_where_the_schema_refuses(tmp_path: Path) -> None:
    records = [
        {"id": "r1", "activityDisplayName": "Update user", "activityDateTime": "2024-05-01T10:00:12.6840583Z"},
        {"id": "r2", "activityDisplayName": "Delete service principal"},  # a rule reads it: glanced
        {"id": "r3", "activityDisplayName": "Delete service principal", "category": "Anwendungsverwaltung ✓"},
        {"id": "", "activityDisplayName": "Update user"},  # no id: the generic reader's skip note
        {"id": "r4", "activityDisplayName": "Update user"},
        {"id": "r6", "activityDisplayName": "Update user", "extra": 1},  # refused: the stream takes over
        {"id": "r7", "activityDisplayName": "Update user"},
    ]
    stream, lane = _lane(tmp_path, records, batch=3, render=render)
    with stream:
        parts = list(lane)
    assert all(type(part) is Rendered and part.records == [] for part in parts)
    lines = [line for part in parts for line in part.lines]
    assert [type(line) for line in lines] == [dict, Glanced, AuditRecord, dict]  # r3: its text cannot vouch
    assert [len(part.skipped) for part in parts] == [0, 1]
    assert lines[0] == {
        "record_id": "r1",
        "activity": "Update user",
        "app_id": None,
        "event_time": "2024-05-01T10:00:12.684058Z",
        "initiator": "unknown",
        "source": Source.GRAPH,
        "target_id": None,
    }
    record, line = lines[1]
    assert type(record) is DeferredRecord and record.record_id == "r2" and record.may_mention((b"r2",))
    assert line == {**lines[0], "record_id": "r2", "activity": "Delete service principal", "event_time": None}
    assert lines[2].record_id == "r3" and lines[3]["record_id"] == "r4"
    assert (lane.taken, lane.complete) == (5, False)


def test_without_render_the_batches_are_extractions(tmp_path: Path) -> None:
    stream, lane = _lane(tmp_path, [{"id": "r1", "activityDisplayName": "Update user"}], batch=10)
    with stream:
        (part,) = list(lane)
    assert type(part) is not Rendered and [r.record_id for r in part.records] == ["r1"]


@pytest.mark.parametrize(
    "item",
    [
        {"id": "r1", "activityDisplayName": "Update user", "activityDateTime": 20240501},  # a number
        {"id": "r1", "activityDisplayName": "Update user", "initiatedBy": {"user": {"id": "\ud800"}}},
        {"id": "r1", "activityDisplayName": "Update user", "targetResources": [[]]},
        {"id": "r1", "activityDisplayName": "Update user", "targetResources": [{"modifiedProperties": {}}]},
    ],
)
def test_hostile_items_are_refused_before_rendering(tmp_path: Path, item: dict[str, Any]) -> None:
    """Refused where the typed decode fails (the stream takes over), or the lane declines the page
    (a lone surrogate fails the page's own syntax check): never rendered."""
    stream, lane = _lane(tmp_path, [item], batch=10, render=render)
    with stream:
        if lane is None:
            assert "\\ud800" in json.dumps(item)
            return
        parts = list(lane)
    assert [part.lines for part in parts] == [[]] and (lane.taken, lane.complete) == (0, False)


def test_oversized_text_is_left_to_the_record_reader(tmp_path: Path) -> None:
    long = "x" * 2000
    records = [
        {"id": long, "activityDisplayName": "Update user"},
        {"id": "r2", "activityDisplayName": long},
        {"id": "r3", "activityDisplayName": "Update user", "targetResources": [{"id": long, "appId": long}]},
    ]
    stream, lane = _lane(tmp_path, records, batch=10, render=render)
    with stream:
        (part,) = list(lane)
    assert [isinstance(line, AuditRecord) for line in part.lines] == [True, True, False]
    assert [len(line.record_id) for line in part.lines[:2]] == [1024, 2]  # capped by the record reader
    assert len(part.lines[2]["target_id"]) == len(part.lines[2]["app_id"]) == 1024 < len(long)


def test_an_error_while_rendering_is_what_the_caller_sees(tmp_path: Path) -> None:
    """The mapping cannot be closed while the failing frame still holds its items: the caller gets
    the error itself, not the ``BufferError`` of closing the mapping."""

    def failing(**facts: Any) -> object:
        raise LookupError("render failed")

    stream, lane = _lane(tmp_path, [{"id": "r1", "activityDisplayName": "Update user"}], batch=10, render=failing)
    with stream, pytest.raises(LookupError, match="render failed"):
        list(lane)


def test_the_activities_kept_stay_bounded_and_answer_as_the_rules_do() -> None:
    for n in range(3000):
        assert export_lane._unread(f" Update thing {n} ") == f"Update thing {n}"
    assert 0 < len(export_lane._UNREAD) <= 1024
    assert export_lane._unread("  Delete   SERVICE principal ") == ""  # a rule reads it, spaced and cased
    assert export_lane._unread("   ") == "" and export_lane._unread("x" * 1025) == ""
    assert export_lane._unread("y" * 1024) == "y" * 1024 and "y" * 1024 not in export_lane._UNREAD  # not kept
