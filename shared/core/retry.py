"""One retry policy for every outbound call, on stamina.

Waits stay short and bounded in-process: a ``Retry-After`` up to :data:`MAX_INPROCESS_WAIT` seconds
is honoured exactly; a longer one is never slept — the :class:`TransientError` reaches the caller,
which reschedules (queue visibility timeout) or fails the function so the platform retries later.
Tests turn waiting off with ``stamina.set_testing(True)``.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

import stamina

from shared.core.errors import TransientError

T = TypeVar("T")

MAX_INPROCESS_WAIT = 10.0
"""Longest single wait slept inside a function invocation, in seconds."""

ATTEMPTS = 3

MAX_RETRY_AFTER = 7 * 24 * 3600.0
"""A ``Retry-After`` longer than this (seconds) is unreadable, not a plan."""


def _backoff(exc: Exception) -> bool | float:
    if not isinstance(exc, TransientError):
        return False
    if exc.retry_after is None:
        return True  # stamina's exponential backoff with jitter
    if exc.retry_after <= MAX_INPROCESS_WAIT:
        return max(exc.retry_after, 0.0)
    return False  # too long to sleep here: the caller reschedules


async def with_retry(call: Callable[[], Awaitable[T]], *, attempts: int = ATTEMPTS) -> T:
    """Run ``call`` with the project's retry policy (retries :class:`TransientError` only)."""
    async for attempt in stamina.retry_context(
        on=_backoff, attempts=attempts, timeout=45.0, wait_initial=0.5, wait_max=MAX_INPROCESS_WAIT
    ):
        with attempt:
            return await call()
    raise AssertionError("unreachable: stamina re-raises the last error")  # pragma: no cover


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """``Retry-After`` in seconds: a number (Graph sends fractions like ``2.128``) or an HTTP date.

    ``None`` when absent or unreadable (the caller falls back to its own backoff). A date in the
    past or a negative number means "now" (0); a date without a zone is read as UTC (HTTP dates
    are GMT); more than a week is treated as garbage rather than obeyed. ``now`` defaults to the
    project clock so tests can pin it.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        if now is None:
            from shared.core.clock import clock

            now = clock.now()
        seconds = (when - now).total_seconds()
    if not math.isfinite(seconds) or seconds > MAX_RETRY_AFTER:
        return None
    return max(seconds, 0.0)
