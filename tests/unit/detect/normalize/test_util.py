"""shared/detect/normalize/_util.py: the field readers every normalizer shares, as literals —
caps, case-insensitive lookups, JSON-encoded values, timestamps, GUIDs and the record budget."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.core.clock import parse_timestamp
from shared.detect.normalize._util import (
    Context,
    TooManyRecords,
    as_dict,
    as_list,
    decode_value,
    first_guid,
    get,
    key_map,
    loads_nested,
    lower_keys,
    short,
    text,
    timestamp,
)

GUID = "90DB942A-C1EB-4E8D-82E4-EEBF64A7E2AE"
GUID_LOWER = "90db942a-c1eb-4e8d-82e4-eebf64a7e2ae"


@pytest.mark.parametrize(
    ("value", "cap", "expected"),
    [
        ("a" * 1024, 1024, "a" * 1024),
        ("a" * 1025, 1024, "a" * 1024),
        ("abc", 2, "ab"),
        ("abc", 3, "abc"),
        (5, 1024, "5"),
        (1.5, 1024, "1.5"),
        (True, 1024, None),
        (None, 1024, None),
        (["a"], 1024, None),
    ],
)
def test_text(value: Any, cap: int, expected: str | None) -> None:
    assert text(value, cap) == expected


def test_text_caps_at_1024_by_default() -> None:
    assert text("b" * 1025) == "b" * 1024


def test_short() -> None:
    assert short("x" * 60) == "'" + "x" * 60 + "'"
    assert short("x" * 61) == "'" + "x" * 60 + "…'"
    assert short(5) == "'int'"


def test_get_prefers_the_exact_spelling_then_the_first_other() -> None:
    assert get({"ID": 2, "id": 1}, "id") == 1
    assert get({"ID": 2, "Id": 3}, "id") == 2
    assert get({1: "x"}, "1") is None
    assert get({}, "id") is None


def test_lower_keys_and_key_map() -> None:
    assert lower_keys({"Id": 1, "ActivityDisplayName": "x"}) == {"id": 1, "activitydisplayname": "x"}
    assert lower_keys({"Id": 1, 2: "dropped"}) == {"id": 1}
    assert key_map({"Id": 1, "ID": 2, 3: 4}) == {"id": "Id"}
    many = {"Id": 1, "ID": 2, **{f"k{i}": i for i in range(63)}}
    assert len(many) == 65
    assert key_map(many)["id"] == "Id"
    assert key_map(dict(list(many.items())[:64]))["id"] == "Id"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        (' {"a": [1]} ', {"a": [1]}),
        ("[1]", None),
        ("x", None),
        ("", None),
        ({"a": 1}, {"a": 1}),
        (5, None),
    ],
)
def test_as_dict(value: Any, expected: Any) -> None:
    assert as_dict(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("[1, 2]", [1, 2]), ('{"a": 1}', None), ("x", None), ([3], [3]), (5, None), (None, None)],
)
def test_as_list(value: Any, expected: Any) -> None:
    assert as_list(value) == expected


def test_loads_nested_refuses_what_is_not_json() -> None:
    assert loads_nested('{"a": NaN}') is None
    assert loads_nested("   ") is None
    assert loads_nested("[1,") is None
    assert loads_nested(' [{"k": "v"}] ') == [{"k": "v"}]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("[true]", [True]),
        ("[false]", [False]),
        ("[True]", [True]),
        ("[False]", [False]),
        ("[]", []),
        (f'["{GUID}"]', [GUID]),
        ('"AccountEnabled"', "AccountEnabled"),
        ('"\\"AccountEnabled\\""', "AccountEnabled"),
        ('"\\"[true]\\""', "[true]"),
        (" [1, 2] ", [1, 2]),
        ('{"a": 1}', {"a": 1}),
        ("[1,", "[1,"),
        ("[NaN]", "[NaN]"),
        ('["a\tb"]', '["a\tb"]'),  # a raw control character inside a string is not JSON: kept as text
        ("nope", "nope"),
        ("", ""),
        ("  ", "  "),
        (None, None),
        (5, 5),
        ([True], [True]),
    ],
)
def test_decode_value(value: Any, expected: Any) -> None:
    assert decode_value(value) == expected


def test_decoded_lists_are_never_shared_between_records() -> None:
    first = decode_value("[true]")
    first.append("changed")
    assert decode_value("[true]") == [True]
    assert decode_value("[]") == []


def test_decode_value_caps_long_text_and_repeats_cached_answers() -> None:
    assert decode_value("x" * 8193) == "x" * 8192
    assert decode_value('"' + "y" * 8190 + '"') == "y" * 8190
    assert decode_value('"' + "y" * 8191 + '"') == '"' + "y" * 8191
    assert decode_value('"cached"') == "cached"
    assert decode_value('"cached"') == "cached"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01T10:11:12.1234567+00:00", datetime(2024, 5, 1, 10, 11, 12, 123456, tzinfo=UTC)),
        ("2024-05-01T10:11:12Z", datetime(2024, 5, 1, 10, 11, 12, tzinfo=UTC)),
        ("2024-05-01T10:11:12+02:00", datetime(2024, 5, 1, 8, 11, 12, tzinfo=UTC)),
        ("2024-05-01T10:11:12.123-05:00", datetime(2024, 5, 1, 15, 11, 12, 123000, tzinfo=UTC)),
        ("2024-05-01T10:11:12", datetime(2024, 5, 1, 10, 11, 12, tzinfo=UTC)),
        ("3/22/2019 1:36:31 PM", datetime(2019, 3, 22, 13, 36, 31, tzinfo=UTC)),
        (datetime(2024, 5, 1, 10, 0), datetime(2024, 5, 1, 10, 0, tzinfo=UTC)),
        (datetime(2024, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=2))), datetime(2024, 5, 1, 10, 0, tzinfo=UTC)),
        ("x" * 25, None),
        (None, None),
    ],
)
def test_timestamp(value: Any, expected: datetime | None) -> None:
    parsed = timestamp(value)
    assert parsed == expected
    if parsed is not None:
        assert parsed.tzinfo is UTC


@pytest.fixture
def new_york() -> Iterator[None]:
    """The process's local zone set to one that is not UTC (a Functions host may run in any)."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    yield
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


@pytest.mark.usefixtures("new_york")
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01T10:11:12", datetime(2024, 5, 1, 10, 11, 12, tzinfo=UTC)),
        ("2024-05-01T10:11:12.123456", datetime(2024, 5, 1, 10, 11, 12, 123456, tzinfo=UTC)),
        ("2024-05-01T10:11:12.1234567", datetime(2024, 5, 1, 10, 11, 12, 123456, tzinfo=UTC)),
        ("2024-05-01T10:11:12.1234567+00:00", datetime(2024, 5, 1, 10, 11, 12, 123456, tzinfo=UTC)),
        ("2024-05-01T10:11:12.1234567-05:00", datetime(2024, 5, 1, 15, 11, 12, 123456, tzinfo=UTC)),
        ("2024-05-01T10:11:12Z", datetime(2024, 5, 1, 10, 11, 12, tzinfo=UTC)),
        ("2024-05-01T10:11:12z", datetime(2024, 5, 1, 10, 11, 12, tzinfo=UTC)),
        ("2024-05-01T10:11:12+0530", datetime(2024, 5, 1, 4, 41, 12, tzinfo=UTC)),
        # fromisoformat refuses a 24-hour offset; parse_timestamp reads it
        ("2024-05-01T10:11:12+24:00", datetime(2024, 4, 30, 10, 11, 12, tzinfo=UTC)),
        # 40 characters, the longest the fast path takes, and 41
        ("2024-05-01T10:11:12.12345678901234+05:30", datetime(2024, 5, 1, 4, 41, 12, 123456, tzinfo=UTC)),
        ("2024-05-01T10:11:12.123456789012345+05:30", datetime(2024, 5, 1, 4, 41, 12, 123456, tzinfo=UTC)),
    ],
)
def test_a_timestamp_without_a_zone_is_utc_whatever_the_machines_zone(value: str, expected: datetime) -> None:
    assert timestamp(value) == expected


@pytest.mark.usefixtures("new_york")
@pytest.mark.parametrize(
    "value",
    [
        "2024-W18-3T10:11:12Z",  # an ISO week date: Python 3.11's fromisoformat reads it
        "2024-05-01T10:11:12.Z",  # a dot and no digits
        "2024-05-01T10:11:12.+00:00",
        "2024-05-01T10:11:12.123456z7+05:30",  # anything after six digits: fromisoformat skips it
        "2024-05-01T10:11:12.1234567X+05:30",
        "2024-05-01T10:11:12:1234567+05:30",  # a colon for the dot
        "2024-05-01X10:11:12Z",  # any separator but T or a blank
        "2024-05-01T101112+00:00",
        "2024-05-01T10:11.12Z",  # a dot for the seconds' colon
        "2024-05-01T10:11:1Z",  # 19 characters
        "2024-05-01T10:11:12.1234567+05.30",  # a dot in the offset
        "2024-05-01T10:11:12+05",
        "2024-05-01T10:11:12+05:30:00",
        "2024-05-01T10:11:12+0530Z",
        "x" * 20,
    ],
)
def test_text_parse_timestamp_refuses_is_refused_by_the_fast_path_too(value: str) -> None:
    assert parse_timestamp(value) is None
    assert timestamp(value) is None


_NEAR_ISO = "0123456789-:T +Zz.W,X\u0663"


@pytest.mark.usefixtures("new_york")
@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.sampled_from(["2024-05-01T10:11:12.1234567+05:30", "2024-05-01T10:11:12Z", "2024-05-01T10:11:12.123-08:00"]),
    st.lists(st.tuples(st.integers(0, 40), st.sampled_from(_NEAR_ISO), st.sampled_from("sdi")), max_size=3),
)
def test_the_fast_path_and_parse_timestamp_agree_on_near_iso_text(base: str, edits: list[tuple[int, str, str]]) -> None:
    """Well-formed text is covered in tests/test_normalize_shapes.py; here one to three characters
    are replaced, deleted or inserted, where fromisoformat and the regex could part."""
    chars = list(base)
    for where, char, how in edits:
        at = min(where, len(chars) - 1)
        if how == "s":
            chars[at] = char
        elif how == "d" and len(chars) > 1:
            del chars[at]
        else:
            chars.insert(at, char)
    value = "".join(chars)
    assert timestamp(value) == parse_timestamp(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (f"appId {GUID} in text", GUID_LOWER),
        (["no", f"[{GUID}]"], GUID_LOWER),
        (["no", 5, None], None),
        ("no guid", None),
        (5, None),
        (None, None),
    ],
)
def test_first_guid(value: Any, expected: str | None) -> None:
    assert first_guid(value) == expected


def test_first_guid_reads_bounded_input() -> None:
    assert first_guid("x" * (8192 - 36) + GUID) == GUID_LOWER
    assert first_guid("x" * (8193 - 36) + GUID) is None
    assert first_guid(["x"] * 199 + [GUID]) == GUID_LOWER
    assert first_guid(["x"] * 200 + [GUID]) is None
    assert first_guid(["x" * (8193 - 36) + GUID]) is None


def test_the_record_budget_is_10000() -> None:
    ctx = Context()
    ctx.take(9_999)
    ctx.take()
    assert ctx.count == 10_000
    with pytest.raises(TooManyRecords) as refused:
        ctx.take()
    assert (str(refused.value), refused.value.status) == ("payload holds more than 10000 records", 413)


def test_skip_notes_name_where() -> None:
    ctx = Context()
    ctx.skip("value 3", "not an object")
    ctx.skip("", "empty payload")
    assert ctx.skipped == ["value 3: not an object", "empty payload"]


def test_a_decoded_list_or_object_is_fresh_for_every_record() -> None:
    first = decode_value('["a"]')
    first.append("changed")
    assert decode_value('["a"]') == ["a"]
    obj = decode_value('{"k": 1}')
    obj["k"] = 2
    assert decode_value('{"k": 1}') == {"k": 1}


def test_nested_json_of_four_byte_characters_is_within_its_bound() -> None:
    assert loads_nested('["' + "😀" * 100 + '"]') == ["😀" * 100]
