"""Time as each simulated service writes it, and the simulator's adjustable clock.

Graph and Log Analytics write 7 fractional digits and ``Z`` (``2018-01-09T21:20:02.7215374Z``); Graph
error ``innerError.date`` has none; Webex writes milliseconds. Reproducing these exactly is the point:
the project's parsers must cope with the real forms, not Python's ``isoformat()``.
"""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta

_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?\s*(Z|z|[+-]\d{2}:?\d{2})?$")
_DURATION = re.compile(
    r"^P(?:(?P<w>\d+(?:\.\d+)?)W)?(?:(?P<d>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


def parse_time(value: str) -> datetime | None:
    """An ISO 8601 timestamp (any number of fractional digits) as aware UTC; ``None`` if not one."""
    m = _ISO.match(value.strip())
    if not m:
        return None
    year, month, day, hour, minute = (int(m.group(i)) for i in range(1, 6))
    second = int(m.group(6) or 0)
    micro = int((m.group(7) or "")[:6].ljust(6, "0"))
    try:
        dt = datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)
    except ValueError:
        return None
    tz = m.group(8)
    if tz and tz not in ("Z", "z"):
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        dt -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return dt


def parse_duration(value: str) -> timedelta | None:
    """An ISO 8601 duration (``PT3600.0S``, ``P1D``, ``PT5M``) as used in Log Analytics timespans."""
    m = _DURATION.match(value.strip().upper())
    if not m or value.strip().upper() in ("P", "PT"):
        return None
    parts = {k: float(v) if v else 0.0 for k, v in m.groupdict().items()}
    return timedelta(weeks=parts["w"], days=parts["d"], hours=parts["h"], minutes=parts["m"], seconds=parts["s"])


def graph_time(value: datetime) -> str:
    """``2024-05-01T10:11:12.1234567Z`` — Graph's and Log Analytics' 7-digit form."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond:06d}" + "0Z"


def seconds_time(value: datetime) -> str:
    """``2021-10-26T16:56:36Z`` — ``deletedDateTime`` and other whole-second Graph timestamps."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def graph_error_date(value: datetime) -> str:
    """``2021-04-20T17:22:30`` — the form of ``innerError.date``."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def webex_time(value: datetime) -> str:
    """``2024-05-01T10:11:12.123Z`` — Webex's millisecond form."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


class SimClock:
    """Wall-clock time plus an offset that ``/_sim/clock/advance`` moves forward.

    Advancing lets a test make audit rows "ingested" into Log Analytics or age a deletion without
    sleeping; it never goes backwards, so generated timestamps stay ordered.
    """

    def __init__(self) -> None:
        self._offset = timedelta()
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) + self._offset

    def advance(self, seconds: float) -> datetime:
        if seconds < 0:
            raise ValueError("the simulator clock only moves forward")
        with self._lock:
            self._offset += timedelta(seconds=seconds)
        return self.now()

    @property
    def offset_seconds(self) -> float:
        with self._lock:
            return self._offset.total_seconds()

    def reset(self) -> None:
        with self._lock:
            self._offset = timedelta()
