"""Timestamps as Microsoft and Webex send them, and the one clock the project reads.

Real payloads carry 7 fractional digits (``2018-01-09T21:20:02.7215374Z``), ``+00:00`` or ``Z``,
alert times with 5 digits, and legacy alert fields like ``3/22/2019 1:36:31 PM``. Python's
``fromisoformat`` takes at most 6 fractional digits on 3.11, so we trim rather than guess.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

_ISO = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?"
    r"\s*(Z|z|[+-]\d{2}:?\d{2})?$"
)
_US = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4}) (\d{1,2}):(\d{2}):(\d{2}) ?([AaPp][Mm])$")
_MAX_LEN = 64


def parse_timestamp(value: object) -> datetime | None:
    """Parse an audit/alert timestamp into an aware UTC ``datetime``; ``None`` if unreadable.

    Never raises: a bad timestamp in an otherwise good record must not lose the record.
    """
    if not isinstance(value, str) or not value or len(value) > _MAX_LEN:
        return None
    text = value.strip()
    m = _ISO.match(text)
    if m:
        year, month, day, hour, minute = (int(m.group(i)) for i in range(1, 6))
        second = int(m.group(6) or 0)
        frac = (m.group(7) or "")[:6].ljust(6, "0")
        tz = m.group(8)
        try:
            dt = datetime(year, month, day, hour, minute, second, int(frac), tzinfo=UTC)
        except ValueError:
            return None
        if tz and tz not in ("Z", "z"):
            sign = 1 if tz[0] == "+" else -1
            digits = tz[1:].replace(":", "")
            offset = sign * (int(digits[:2]) * 60 + int(digits[2:]))
            try:
                dt = dt - timedelta(minutes=offset)
            except OverflowError:  # "9999-12-31T23:00:00-05:00" lies past year 9999 in UTC
                return None
        return dt
    m = _US.match(text)
    if m:
        month, day, year, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
        ampm = m.group(7).upper()
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if ampm == "PM" else 0)
        try:
            return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
        except ValueError:
            return None
    return None


def format_timestamp(value: datetime) -> str:
    """ISO 8601 in UTC with ``Z``, the form every channel and table row uses."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Clock:
    """The project's single source of "now" and of waiting.

    Production uses the wall clock. Tests call :meth:`set_testing` to freeze or advance time, so
    every backoff and deadline path runs without sleeping (the stamina pattern).
    """

    def __init__(self) -> None:
        self._now: Callable[[], datetime] = lambda: datetime.now(UTC)
        self._offset = 0.0
        self.sleeper: Callable[[float], Awaitable[None]] | None = None
        """Tests install one (that moves this clock, and the simulator's) so nothing waits for real."""

    def now(self) -> datetime:
        return self._now() + timedelta(seconds=self._offset)

    def monotonic(self) -> float:
        return time.monotonic() + self._offset

    def advance(self, seconds: float) -> None:
        """Move "now" forward (tests and the demo's simulated waits)."""
        self._offset += seconds

    def reset(self) -> None:
        self._offset = 0.0

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (pacing a rate-limited API): for real, or through :attr:`sleeper`."""
        if self.sleeper is not None:
            await self.sleeper(max(seconds, 0.0))
            return
        import asyncio

        await asyncio.sleep(max(seconds, 0.0))


clock = Clock()
