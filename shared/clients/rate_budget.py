"""One rate budget shared by every instance: token buckets kept in Table storage (issue 17, point 5).

Microsoft Graph's identity and access reports (``auditLogs/*``) allow 5 requests per 10 s per app per
tenant and 122 per 10 s per app across all tenants
(learn.microsoft.com/graph/throttling-limits#identity-and-access-reports-service-limits). When the
sweep is spread over many instances, each instance counting for itself would spend the app's budget
many times over; so the budget is a row per scope (``audit:app``: the app's 122 per 10 s) that every
instance takes from through the one table module (:mod:`shared.clients.table`):

- a take reads the row, refills it for the time passed on the injected clock, and writes it back
  **ETag-checked** (insert-if-absent for a new bucket). Two instances that read the same row cannot
  both write: the loser re-reads and sees the token gone — the budget is never overspent;
- a refused take writes nothing and answers how long until enough tokens are there;
- taking several scopes at once (:meth:`RateBudget.take_all`) takes them in order and gives back
  what it took when a later one refuses, so a refusal spends nothing (the give-back can briefly
  hold a token another taker was refused: a budget errs on the side of spending less).

Rows: PartitionKey ``PARTITION``, RowKey = the scope, ``tokens`` (Double) and ``at`` (epoch
seconds, Double). A row that does not read as numbers (hand-edited, hostile) counts as an empty
bucket from now: it refills, it never grants more than the bucket holds.

One :class:`RateBudget` per process (the composition root keeps one) takes one token at a time:
its takes wait for each other instead of racing for the same row's ETag — the concurrent sweeps of
one instance would otherwise lose most writes and read again (about 4.4 requests a take where 2 do).

A bucket only one holder takes from at a time — a tenant's own audit bucket, taken only by that
tenant's sweep under its lease — needs no row of its own: :class:`HeldBucket` is read with the
holder's state row and written with that row's next write (:mod:`shared.app.audit_cadence`).
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from shared.clients.table import Table, etag_of
from shared.core.clock import Clock, clock

PARTITION = "ratebudget"
APP_SCOPE = "audit:app"
_SCOPE = re.compile(r"^[A-Za-z0-9:._@-]{1,200}$")
"""What a RowKey may hold here: no ``/ \\ # ?`` nor control characters (Table storage refuses them)."""
MAX_ATTEMPTS = 8


@dataclass(frozen=True, slots=True)
class Bucket:
    """``capacity`` tokens, refilled at ``capacity`` per ``per_seconds``. Such a bucket grants up to
    ``capacity`` at once plus a window's refill in any window: for a sliding-window limit (Graph's
    N requests in any T seconds) build it with :meth:`within`."""

    capacity: float
    per_seconds: float

    def __post_init__(self) -> None:
        if not (0 < self.capacity < math.inf and 0 < self.per_seconds < math.inf):
            raise ValueError("a bucket needs a positive capacity and refill period")

    @classmethod
    def within(cls, limit: float, window: float, *, burst: float) -> Bucket:
        """A bucket that never grants more than ``limit`` in any ``window`` seconds: at most
        ``burst`` at once, the rest refilled over the window (``burst + rate × window = limit``).
        ``Bucket(limit, window)`` would grant up to twice the limit in one window — a full bucket,
        then a window's refill — which Graph answers with 429s once the sweep is fast enough."""
        if not 0 < burst < limit:
            raise ValueError("a burst is more than 0 and less than the limit")
        return cls(burst, burst * window / (limit - burst))

    @property
    def rate(self) -> float:
        return self.capacity / self.per_seconds


AUDIT_PER_TENANT = Bucket.within(5, 10.0, burst=4)
"""Graph allows 5 audit reads per 10 s per app per tenant: 4 at once (a sweep's round), then one
every 10 s — at most 5 in any 10 s. Only the tenant's own sweep takes from it, a minute apart, so
each sweep starts with 4."""
AUDIT_PER_APP = Bucket.within(120, 10.0, burst=10)
"""Graph allows 122 per 10 s per app across all tenants: 10 at once, then 11 a second (at most 120
in any 10 s, 2 spare for the same reason)."""


@dataclass(frozen=True, slots=True)
class _Level:
    tokens: float
    at: float
    etag: str | None
    exists: bool
    repair: bool = False  # the row did not read as numbers: rewrite it as read (empty from now)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _level(row: Any, bucket: Bucket, now: float) -> _Level:
    """The bucket as of ``now``: stored tokens plus the refill since ``at``, capped at capacity."""
    if row is None:
        return _Level(bucket.capacity, now, None, exists=False)
    tokens, at = _number(row.get("tokens")), _number(row.get("at"))
    if tokens is None or at is None or tokens < 0:
        return _Level(0.0, now, etag_of(row), exists=True, repair=True)  # unreadable: empty from now
    elapsed = max(now - at, 0.0)  # another instance's clock a little behind never refills backwards
    level = min(bucket.capacity, min(tokens, bucket.capacity) + elapsed * bucket.rate)
    return _Level(level, max(at, now), etag_of(row), exists=True)


@dataclass(slots=True)
class HeldBucket:
    """A bucket whose only taker holds it for a while (a tenant's audit bucket, under the sweep's
    lease): its level lives in memory and in the holder's own row (:meth:`values`), so a take costs
    no request. Loaded like a budget row: absent → full, unreadable → empty from now."""

    bucket: Bucket
    tokens: float
    at: float

    @classmethod
    def load(cls, bucket: Bucket, tokens: Any, at: Any, now: float) -> HeldBucket:
        row = None if tokens is None and at is None else {"tokens": tokens, "at": at}
        level = _level(row, bucket, now)
        return cls(bucket, level.tokens, level.at)

    def take(self, now: float) -> float:
        """One token: ``0.0`` when taken, else the seconds until it is there (nothing taken)."""
        level = _level({"tokens": self.tokens, "at": self.at}, self.bucket, now)
        self.tokens, self.at = level.tokens, level.at
        if self.tokens < 1.0:
            return (1.0 - self.tokens) / self.bucket.rate
        self.tokens -= 1.0
        return 0.0

    def give_back(self) -> None:
        self.tokens = min(self.bucket.capacity, self.tokens + 1.0)

    def values(self) -> tuple[float, float]:
        """``(tokens, at)`` to store in the holder's row."""
        return float(self.tokens), float(self.at)


class RateBudget:
    """Token buckets in a table, shared by every instance that uses the same table."""

    def __init__(self, table: Table, *, now: Clock = clock, partition: str = PARTITION) -> None:
        self._table = table
        self._clock = now
        self._partition = partition
        self._one_at_a_time = asyncio.Lock()  # this process's takes never race each other's ETag

    async def take(self, scope: str, bucket: Bucket, tokens: float = 1.0) -> float:
        """Take ``tokens`` from the scope's bucket: ``0.0`` when taken, else the seconds until they
        would be there (nothing taken)."""
        if not _SCOPE.match(scope):
            raise ValueError("a budget scope is 1-200 letters, digits and : . _ @ -")
        if not 0 < tokens <= bucket.capacity:
            raise ValueError("a take is more than 0 and at most the bucket's capacity")
        async with self._one_at_a_time:
            for _ in range(MAX_ATTEMPTS):
                level = _level(await self._table.get(self._partition, scope), bucket, self.now())
                if level.tokens < tokens:
                    if level.repair:  # else "empty from now" would restart at every read and never refill
                        await self._write(scope, level, level.tokens)
                    return (tokens - level.tokens) / bucket.rate
                if await self._write(scope, level, level.tokens - tokens):
                    return 0.0
        return tokens / bucket.rate  # contended past every attempt: others took; try again later

    async def give_back(self, scope: str, bucket: Bucket, tokens: float = 1.0) -> None:
        """Return tokens a caller took but did not use (never above capacity)."""
        async with self._one_at_a_time:
            for _ in range(MAX_ATTEMPTS):
                level = _level(await self._table.get(self._partition, scope), bucket, self.now())
                if await self._write(scope, level, min(bucket.capacity, level.tokens + tokens)):
                    return

    async def take_all(self, takes: Sequence[tuple[str, Bucket]]) -> float:
        """One token of each scope, or none: ``0.0`` when all were taken, else the longest wait."""
        taken: list[tuple[str, Bucket]] = []
        for scope, bucket in takes:
            wait = await self.take(scope, bucket)
            if wait > 0:
                for done_scope, done_bucket in reversed(taken):
                    await self.give_back(done_scope, done_bucket)
                return wait
            taken.append((scope, bucket))
        return 0.0

    async def acquire(self, takes: Sequence[tuple[str, Bucket]], *, max_wait: float) -> bool:
        """Take all, waiting on the injected clock up to ``max_wait`` seconds in all; ``False`` when
        the budget is not there within it (the caller reads later: a budgeted cadence)."""
        waited = 0.0
        while True:
            wait = await self.take_all(takes)
            if wait <= 0:
                return True
            if waited + wait > max_wait:
                return False
            await self._clock.sleep(wait)
            waited += wait

    async def level(self, scope: str, bucket: Bucket) -> float:
        """Tokens in the scope's bucket now (for the bench's report and the status page)."""
        return _level(await self._table.get(self._partition, scope), bucket, self.now()).tokens

    def now(self) -> float:
        """This budget's clock, in epoch seconds (a :class:`HeldBucket` beside it counts on the same)."""
        return self._clock.now().timestamp()

    async def _write(self, scope: str, level: _Level, tokens: float) -> bool:
        row = {"PartitionKey": self._partition, "RowKey": scope, "tokens": float(tokens), "at": float(level.at)}
        if not level.exists:
            return await self._table.insert(row) is not None
        return await self._table.replace(row, level.etag) is not None
