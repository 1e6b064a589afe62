"""A bucket kept in its holder's own row (shared/clients/rate_budget.py, ``HeldBucket``) and one
RateBudget per process whose takes wait for each other: what a stored level reads as — absent,
hand-edited, hostile, from a clock ahead — and how many requests concurrent takes cost."""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from typing import Any

import pytest

from shared.clients.rate_budget import (
    APP_SCOPE,
    AUDIT_PER_APP,
    AUDIT_PER_TENANT,
    PARTITION,
    Bucket,
    HeldBucket,
    RateBudget,
)
from shared.clients.table import Table
from tests.fakes.memtable import MemTable

NOW = 1_800_000_000.0
FIVE = Bucket(5, 10.0)


@pytest.mark.parametrize(
    ("bucket", "most", "least"),
    [(AUDIT_PER_APP, 122 - 2, 600), (AUDIT_PER_TENANT, 5, 9)],  # the app's: 2 spare (a take comes a moment
    ids=["app", "tenant"],  # before its request reaches Graph)
)
def test_the_audit_buckets_never_grant_more_than_graphs_limit_in_any_10_seconds(
    bucket: Bucket, most: int, least: int
) -> None:
    """Graph counts audit reads in a sliding 10-s window. A bucket of the limit's size refilled over
    the window granted twice the limit in the first 10 s (a full bucket, then its refill): the
    1,000-tenant bench, once its sweep ran fast enough, got 487 × 429 from Graph's app limit."""
    held = HeldBucket.load(bucket, None, None, NOW)
    granted: list[float] = []
    for step in range(60 * 20):  # a greedy taker, every 50 ms for a minute
        now = NOW + step * 0.05
        while held.take(now) == 0.0:
            granted.append(now)
    worst = max(sum(1 for t in granted if start <= t < start + 10.0) for start in granted)
    assert worst <= most
    assert len(granted) >= least  # over the minute: what the sweep may read


def test_an_absent_level_is_a_full_bucket() -> None:
    held = HeldBucket.load(FIVE, None, None, NOW)
    assert held.values() == (5.0, NOW)
    assert [held.take(NOW) for _ in range(5)] == [0.0] * 5
    assert held.take(NOW) == pytest.approx(2.0)  # one token refills in 10/5 s
    assert held.take(NOW + 2.0) == 0.0
    held.give_back()
    assert held.tokens == pytest.approx(1.0)


def test_a_stored_level_refills_for_the_time_passed_and_never_above_capacity() -> None:
    held = HeldBucket.load(FIVE, 0.5, NOW - 1.0, NOW)
    assert held.tokens == pytest.approx(1.0)  # 0.5 + 1 s × 0.5 per s
    assert HeldBucket.load(FIVE, 2.0, NOW - 3600, NOW).tokens == pytest.approx(5.0)
    full = HeldBucket.load(FIVE, 5.0, NOW, NOW)
    full.give_back()
    assert full.tokens == 5.0


@pytest.mark.parametrize(
    ("tokens", "at"),
    [
        ("5", NOW),  # a string, as a hand edit in the portal stores it
        (5.0, "yesterday"),
        (5.0, None),  # half a level (truncated row)
        (None, NOW),
        (True, NOW),  # a bool is not a number here
        (math.nan, NOW),
        (math.inf, NOW),
        (-3.0, NOW),
        (5.0, math.inf),
        ({"tokens": 5}, NOW),
        ("9" * 10_000, NOW),  # oversized
    ],
)
def test_a_level_that_does_not_read_is_an_empty_bucket_from_now(tokens: Any, at: Any) -> None:
    held = HeldBucket.load(FIVE, tokens, at, NOW)
    assert held.values() == (0.0, NOW)
    assert held.take(NOW) > 0  # refused: it refills from now
    assert held.take(NOW + 2.0) == 0.0


def test_a_huge_level_or_a_clock_ahead_never_grants_more_than_capacity() -> None:
    huge = HeldBucket.load(FIVE, 1e308, NOW, NOW)
    assert huge.tokens == 5.0
    ahead = HeldBucket.load(FIVE, 1.0, NOW + 3600, NOW)  # stamped by a clock an hour ahead
    assert ahead.tokens == 1.0 and ahead.at == NOW + 3600  # never refills backwards
    assert ahead.take(NOW) == 0.0 and ahead.take(NOW + 1) > 0


class _Counting(Table):
    def __init__(self, client: Any) -> None:
        super().__init__(client)
        self.sent: Counter[str] = Counter()

    async def get(self, partition: str, row: str, select: list[str] | None = None) -> Any:
        self.sent["get"] += 1
        await asyncio.sleep(0)  # a round trip: the other takers run meanwhile
        return await super().get(partition, row, select)

    async def insert(self, entity: dict[str, Any]) -> str | None:
        self.sent["write"] += 1
        return await super().insert(entity)

    async def replace(self, entity: dict[str, Any], etag: str | None) -> str | None:
        self.sent["write"] += 1
        return await super().replace(entity, etag)


async def test_one_process_concurrent_takes_wait_for_each_other_instead_of_racing() -> None:
    """Twelve sweeps of one instance take from the app's bucket at once: each take is one read and
    one write (before, most writes lost the ETag race to a neighbour and read again), and exactly
    the bucket's tokens are granted."""
    table = _Counting(MemTable("budget"))
    await table.ensure()
    budget = RateBudget(table)
    twenty = Bucket(20, 10.0)
    waits = await asyncio.gather(*(budget.take(APP_SCOPE, twenty) for _ in range(12)))
    assert waits == [0.0] * 12
    assert table.sent == {"get": 12, "write": 12}
    row = await table.get(PARTITION, APP_SCOPE)
    assert row is not None and row["tokens"] == pytest.approx(8.0, abs=0.5)
