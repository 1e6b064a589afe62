"""One retry policy for every outbound call, on stamina.

Waits stay short and bounded in-process: a ``Retry-After`` up to :data:`MAX_INPROCESS_WAIT` seconds
is honoured exactly; a longer one is never slept — the :class:`TransientError` reaches the caller,
which reschedules (queue visibility timeout) or fails the function so the platform retries later.
Tests turn waiting off with ``stamina.set_testing(True)``.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import TypeVar

import stamina

from shared.errors import TransientError

T = TypeVar("T")

MAX_INPROCESS_WAIT = 10.0
"""Longest single wait slept inside a function invocation, in seconds."""

ATTEMPTS = 3


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


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds: an integer, a fraction (Graph sends ``2.128``) or an HTTP date."""
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        from email.utils import parsedate_to_datetime

        from shared.timeutil import clock

        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None
        return max(0.0, (when - clock.now()).total_seconds())
    if math.isnan(seconds) or seconds < 0 or seconds > 7 * 24 * 3600:  # NaN, negative, absurd
        return None
    return seconds
