"""shared/detect/intake.py, fast: the intake message's wire form, the alert-window gate, the split
under the queue's size limit and what a pushed payload is reduced to. Expected values are literals."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from shared.core.catalogue import INTEGRATION_APP_ID, Catalogue
from shared.core.errors import ConfigError, PayloadError
from shared.core.models import AlertWindow, AuditRecord, Extraction, Source, TargetResource
from shared.detect.intake import (
    MAX_TEXT_BYTES,
    Intake,
    IntakeMessage,
    _pack,
    admit_alerts,
    decode_all,
    prepare,
    window_problem,
)

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
FUTURE = "the alert window is not in the past (it ends in the future or starts before 1970)"
WS = "b1a2c3d4-0000-4000-8000-00000000000a"


def window(start: datetime, end: datetime, *, condition: str = "Fired", ws: str | None = WS) -> AlertWindow:
    return AlertWindow("alert-1", "rule", condition, start, end, ws)


def test_a_message_reads_back_what_it_wrote() -> None:
    msg = IntakeMessage("eventgrid", "evt-1")
    assert msg.to_json() == '{"v":1,"origin":"eventgrid","ref":"evt-1","records":[],"alerts":[]}'
    assert IntakeMessage.from_json(msg.to_json()) == msg
    long = json.dumps({"v": 1, "origin": "o" * 100, "ref": "r" * 300, "records": [], "alerts": []})
    read = IntakeMessage.from_json(long)
    assert (len(read.origin), len(read.ref)) == (64, 256)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ('{"v":2,"origin":"a","ref":"b"}', "not a version 1 object"),
        ('[{"v":1}]', "not a version 1 object"),
        ('{"v":1,"origin":1,"ref":"b"}', "origin and ref must be text"),
        ('{"v":1,"origin":"a","ref":null}', "origin and ref must be text"),
        ('{"v":1,"origin":"a","ref":"b","records":{}}', "records and alerts must be arrays"),
        ('{"v":1,"origin":"a","ref":"b","alerts":"x"}', "records and alerts must be arrays"),
    ],
)
def test_a_bad_message_is_refused_with_its_reason(body: str, error: str) -> None:
    with pytest.raises(PayloadError, match=error):
        IntakeMessage.from_json(body)


def test_decode_all_skips_the_bad_and_keeps_the_order() -> None:
    good = [IntakeMessage("alert", "a").to_json(), IntakeMessage("eventgrid", "b").to_json()]
    assert [m.ref for m in decode_all([good[0], "{", '{"v":3}', good[1]])] == ["a", "b"]


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (NOW - timedelta(minutes=10), NOW, None),
        (NOW - timedelta(days=2), NOW, None),  # exactly the longest window
        (NOW - timedelta(days=2, seconds=1), NOW, "the alert window is 48 h long; at most 48 h is re-queried"),
        (NOW - timedelta(days=3), NOW, "the alert window is 72 h long; at most 48 h is re-queried"),
        (NOW, NOW - timedelta(seconds=1), "the alert window ends before it starts"),
        (NOW, NOW, None),
        (NOW, NOW + timedelta(hours=1), None),  # clock skew allowed, exactly
        (NOW, NOW + timedelta(hours=1, seconds=1), FUTURE),
        (datetime(1970, 1, 1, tzinfo=UTC), datetime(1970, 1, 2, tzinfo=UTC), None),
        (datetime(1969, 12, 31, 23, 59, tzinfo=UTC), datetime(1970, 1, 1, tzinfo=UTC), FUTURE),
    ],
)  # fmt: skip
def test_window_bounds(start: datetime, end: datetime, expected: str | None) -> None:
    assert window_problem(window(start, end), workspace_id=WS, now=NOW) == expected


def test_the_window_must_name_the_configured_workspace() -> None:
    w = window(NOW - timedelta(minutes=5), NOW, ws=" " + WS.upper() + " ")
    assert window_problem(w, workspace_id=WS, now=NOW) is None  # case and blanks do not matter
    assert window_problem(window(NOW - timedelta(minutes=5), NOW, ws=None), workspace_id=WS, now=NOW) is None
    other = window(NOW - timedelta(minutes=5), NOW, ws="other")
    assert window_problem(other, workspace_id=WS, now=NOW) == (
        "the alert is about a workspace other than the configured LOG_ANALYTICS_WORKSPACE_ID"
    )
    assert window_problem(other, workspace_id=None, now=NOW) == (
        "the alert names a workspace and LOG_ANALYTICS_WORKSPACE_ID is not set"
    )


def test_admit_alerts_counts_and_windows() -> None:
    ok = window(NOW - timedelta(minutes=5), NOW)
    admit_alerts(Extraction(alerts=[ok] * 50), workspace_id=WS, now=NOW)  # 50: the most accepted
    with pytest.raises(PayloadError, match=r"^51 alerts in one request; at most 50 are accepted$"):
        admit_alerts(Extraction(alerts=[ok] * 51), workspace_id=WS, now=NOW)
    bad = window(NOW, NOW - timedelta(seconds=1))
    with pytest.raises(PayloadError, match=r"^alert 2 of 2: the alert window ends before it starts$"):
        admit_alerts(Extraction(alerts=[ok, bad]), workspace_id=WS, now=NOW)
    resolved = window(NOW - timedelta(minutes=5), NOW, condition="RESOLVED", ws=None)
    admit_alerts(Extraction(alerts=[resolved]), workspace_id=None, now=NOW)  # closes nothing: no query
    with pytest.raises(ConfigError, match="LOG_ANALYTICS_WORKSPACE_ID"):
        admit_alerts(Extraction(alerts=[window(NOW - timedelta(minutes=5), NOW, ws=None)]), workspace_id=None, now=NOW)


def test_pack_splits_under_the_limit_and_keeps_every_item() -> None:
    item = {"x": "a" * 1000}  # 1,011 bytes of JSON, +1 for its comma
    per = (MAX_TEXT_BYTES - 512) // 1012
    messages = _pack("eventgrid", "evt", [item] * (per + 1), [{"w": 1}])
    assert [len(m.records) for m in messages] == [per, 1]
    assert [len(m.alerts) for m in messages] == [0, 1]
    assert all(len(m.to_json().encode()) <= MAX_TEXT_BYTES for m in messages)
    assert _pack("eventgrid", "evt", [], []) == []
    with pytest.raises(PayloadError, match="too large") as info:
        _pack("eventgrid", "evt", [{"x": "a" * MAX_TEXT_BYTES}], [])
    assert info.value.status == 413


def test_prepare_keeps_only_what_needs_work() -> None:
    webex = TargetResource("sp-1", "Cisco Webex Identity Integration", "ServicePrincipal", INTEGRATION_APP_ID)
    other = TargetResource(
        "sp-2", "Office 365 SharePoint Online", "ServicePrincipal", "00000003-0000-0ff1-ce00-000000000000"
    )
    records = [
        AuditRecord("Directory_a", "Delete service principal", Source.GRAPH, result="success", targets=(webex,)),
        AuditRecord("Directory_b", "Delete service principal", Source.GRAPH, result="success", targets=(other,)),
    ]
    fired = window(NOW - timedelta(minutes=5), NOW)
    resolved = AlertWindow("alert-2", "rule", "Resolved", NOW - timedelta(minutes=5), NOW, WS)
    got = prepare(
        Extraction(records, [fired, resolved], ["unknown event type"]), Catalogue(), origin="alert", ref="r" * 300
    )
    assert got.summary() == {
        "queued": 1,
        "records": 1,
        "alerts": 1,
        "dropped": 1,
        "resolved": ["alert-2"],
        "skipped": ["unknown event type"],
    }
    (message,) = got.messages
    assert (message.origin, len(message.ref)) == ("alert", 256)
    assert [r["record_id"] for r in message.records] == ["Directory_a"]
    assert [a["alert_id"] for a in message.alerts] == ["alert-1"]
    assert got.encoded() == [message.to_json()]


def _sized(n: int) -> dict[str, str]:
    """An item whose JSON text plus its comma is ``n`` bytes: ``{"x":"…"}`` is 8 bytes around the text."""
    return {"x": "a" * (n - 9)}


def test_an_item_of_exactly_the_budget_is_queued_and_one_byte_more_is_413() -> None:
    """The budget is the 45 KiB text limit less this envelope (65 bytes here): 46,080 - 65 = 46,015."""
    assert len(IntakeMessage("eventgrid", "evt").to_json().encode()) == 65
    (message,) = _pack("eventgrid", "evt", [_sized(46_015)], [])
    assert len(message.to_json().encode()) == 46_014 + 65 == MAX_TEXT_BYTES - 1
    assert (message.records, message.alerts) == ((_sized(46_015),), ())
    with pytest.raises(PayloadError, match=r"^a record is too large for the intake queue$") as info:
        _pack("eventgrid", "evt", [], [_sized(46_016)])
    assert info.value.status == 413


def test_items_filling_the_budget_exactly_share_one_message() -> None:
    assert len(IntakeMessage("alert", "a").to_json().encode()) == 59  # budget 46,021
    one = _pack("alert", "a", [_sized(45_000)], [_sized(1_021)])
    assert [(len(m.records), len(m.alerts)) for m in one] == [(1, 1)]
    two = _pack("alert", "a", [_sized(45_000)], [_sized(1_022)])
    assert [(len(m.records), len(m.alerts)) for m in two] == [(1, 0), (0, 1)]
    assert [m.alerts for m in two] == [(), (_sized(1_022),)]


def test_a_long_hostile_ref_never_pushes_a_message_past_the_text_limit() -> None:
    """256 control characters escape to 1,536 bytes: more than any fixed envelope allowance of 512."""
    ref = "\x01" * 256
    envelope = len(IntakeMessage("alert", ref).to_json().encode())
    assert envelope == 1_594
    (largest,) = _pack("alert", ref, [_sized(MAX_TEXT_BYTES - envelope)], [])
    assert len(largest.to_json().encode()) == MAX_TEXT_BYTES - 1
    with pytest.raises(PayloadError):
        _pack("alert", ref, [_sized(MAX_TEXT_BYTES - envelope + 1)], [])
    many = _pack("alert", ref, [_sized(9_000) for _ in range(12)], [_sized(3_000)])
    assert all(len(m.to_json().encode()) <= MAX_TEXT_BYTES for m in many)
    assert sum(len(m.records) + len(m.alerts) for m in many) == 13


def test_a_message_of_exactly_the_read_limit_is_read_and_one_byte_more_is_refused() -> None:
    """64 KiB = 65,536 bytes of JSON text: what the queue can carry after base64, read back whole."""
    body = IntakeMessage("eventgrid", "evt").to_json()
    padded = body + " " * (65_536 - len(body))
    assert IntakeMessage.from_json(padded) == IntakeMessage("eventgrid", "evt")
    assert IntakeMessage.from_json(padded.encode()) == IntakeMessage("eventgrid", "evt")
    with pytest.raises(PayloadError, match=r"^payload too large") as info:
        IntakeMessage.from_json(padded + " ")
    assert info.value.status == 413


def test_a_fresh_tally_counts_from_zero() -> None:
    assert Intake().summary() == {
        "queued": 0,
        "records": 0,
        "alerts": 0,
        "dropped": 0,
        "resolved": [],
        "skipped": [],
    }
    assert Intake(skipped=[str(n) for n in range(25)]).summary()["skipped"] == [str(n) for n in range(20)]
    assert IntakeMessage("alert", "a").v == 1


def test_a_message_is_checked_part_by_part_when_read() -> None:
    for body, error in [
        ('{"v":1,"origin":"a","ref":"b","records":[5]}', "intake message: record must be an object"),
        ('{"v":1,"origin":"a","ref":"b","alerts":[{}]}', "intake message: alert window times unreadable"),
    ]:
        with pytest.raises(PayloadError, match=f"^{error}$"):
            IntakeMessage.from_json(body)
    webex = TargetResource("sp-1", "Cisco Webex Identity Integration", "ServicePrincipal", INTEGRATION_APP_ID)
    record = AuditRecord("Directory_a", "Delete service principal", Source.GRAPH, targets=(webex,))
    (message,) = prepare(Extraction([record]), Catalogue(), origin="eventgrid", ref="e").messages
    assert IntakeMessage.from_json(message.to_json()).extraction().records == [record]


def test_text_is_written_as_utf_8_and_measured_so() -> None:
    """ "ü" is two bytes of UTF-8 (six as an escape): an item of exactly the budget in it is queued."""
    assert IntakeMessage("eventgrid", "Müller").to_json() == (
        '{"v":1,"origin":"eventgrid","ref":"Müller","records":[],"alerts":[]}'
    )
    assert len(IntakeMessage("eventgrid", "e").to_json().encode()) == 63  # budget 46,080 - 63 = 46,017
    item = {"x": "ü" * 23_004}  # 2 x 23,004 + 9 = 46,017 bytes
    assert [len(m.records) for m in _pack("eventgrid", "e", [item], [])] == [1]
    with pytest.raises(PayloadError):
        _pack("eventgrid", "e", [{"x": "ü" * 23_004 + "a"}], [])


def test_a_new_message_starts_with_an_empty_budget() -> None:
    full, parts = _sized(46_021), [_sized(45_000), _sized(1_021)]  # budget 46,021 (see above)
    assert [len(m.records) for m in _pack("alert", "a", [full, *parts], [])] == [1, 2]
    over = [_sized(45_000), _sized(1_022)]
    assert [len(m.records) for m in _pack("alert", "a", [full, *over], [])] == [1, 1, 1]
