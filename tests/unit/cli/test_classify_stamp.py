"""shared/cli/classify.py ``_stamp``: the line's ``event_time`` is :func:`format_timestamp`'s text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from shared.cli.classify import _stamp
from shared.core.clock import format_timestamp


@given(st.datetimes(timezones=st.just(UTC)))
def test_any_utc_time_prints_as_format_timestamp(value: datetime) -> None:
    assert _stamp(value) == format_timestamp(value)


@given(st.datetimes(min_value=datetime(1000, 1, 2), max_value=datetime(9999, 12, 30)), st.integers(-840, 840))
def test_other_zones_print_in_utc(value: datetime, minutes: int) -> None:
    aware = value.replace(tzinfo=timezone(timedelta(minutes=minutes)))
    assert _stamp(aware) == format_timestamp(aware)


def test_edges() -> None:
    assert _stamp(datetime(2024, 5, 1, 10, 0, 12, 684058, tzinfo=UTC)) == "2024-05-01T10:00:12.684058Z"
    assert _stamp(datetime(2024, 5, 1, tzinfo=UTC)) == "2024-05-01T00:00:00.000000Z"
    assert _stamp(datetime(999, 5, 1, tzinfo=UTC)) == format_timestamp(datetime(999, 5, 1, tzinfo=UTC))


def test_the_hours_kept_stay_bounded() -> None:
    from shared.cli import classify

    start = datetime(2024, 5, 1, tzinfo=UTC)
    for n in range(5000):
        value = start + timedelta(hours=n, minutes=n, microseconds=n)
        assert _stamp(value) == format_timestamp(value)
    assert 0 < len(classify._HOURS) <= 4096
