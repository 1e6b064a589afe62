"""The shared rate budget (shared/clients/rate_budget.py): token buckets in Table storage, the same
on the in-memory table and on Azurite; two takers racing for one token; refill on the injected clock."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest

from shared.clients.rate_budget import (
    APP_SCOPE,
    AUDIT_PER_APP,
    AUDIT_PER_TENANT,
    PARTITION,
    Bucket,
    RateBudget,
)
from shared.clients.table import Table
from shared.core.clock import Clock

ONE = Bucket(1, 10.0)
FIVE = Bucket(5, 10.0)


def tenant_scope(tenant_id: str) -> str:
    """A scope per tenant, as a budget of 5 per 10 s per tenant would name it."""
    return f"audit:tenant:{tenant_id.lower()}"


def audit_takes(tenant_id: str) -> list[tuple[str, Bucket]]:
    """A tenant's bucket and the app's, both rows: what one audit read took before a tenant's bucket
    moved to its cursor row (shared/app/audit_cadence.py); still the case of taking two scopes at once."""
    return [(tenant_scope(tenant_id), AUDIT_PER_TENANT), (APP_SCOPE, AUDIT_PER_APP)]


@pytest.fixture
def table(any_table: Table) -> Table:
    return any_table


@pytest.fixture
def frozen() -> Clock:
    """A clock of its own that moves only when told (its sleep advances it)."""
    own = Clock()
    start = own.now()
    own._now = lambda: start  # frozen: only advance() moves it

    async def advance(seconds: float) -> None:
        own.advance(seconds)

    own.sleeper = advance
    return own


async def test_a_bucket_grants_its_capacity_then_says_how_long_to_wait(table: Table, frozen: Clock) -> None:
    budget = RateBudget(table, now=frozen)
    scope = tenant_scope("T1")
    assert [await budget.take(scope, FIVE) for _ in range(5)] == [0.0] * 5
    assert await budget.take(scope, FIVE) == pytest.approx(2.0)  # one token refills in 10/5 s
    frozen.advance(1.0)
    assert await budget.take(scope, FIVE) == pytest.approx(1.0)  # a refusal spent nothing
    frozen.advance(1.0)
    assert await budget.take(scope, FIVE) == 0.0
    frozen.advance(3600)
    assert await budget.level(scope, FIVE) == pytest.approx(5.0)  # never more than capacity
    row = await table.get(PARTITION, "audit:tenant:t1")
    assert row is not None and isinstance(row["tokens"], float) and isinstance(row["at"], float)


async def test_scopes_are_separate_buckets(table: Table, frozen: Clock) -> None:
    budget = RateBudget(table, now=frozen)
    for _ in range(5):
        assert await budget.take(tenant_scope("a"), FIVE) == 0.0
    assert await budget.take(tenant_scope("a"), FIVE) > 0
    assert await budget.take(tenant_scope("b"), FIVE) == 0.0


async def test_two_instances_share_one_budget(table: Table, frozen: Clock) -> None:
    """Two RateBudget objects over the same table (two instances): one app bucket between them."""
    one, two = RateBudget(table, now=frozen), RateBudget(table, now=frozen)
    granted = 0
    for i in range(70):
        for budget, tenant in ((one, f"a{i}"), (two, f"b{i}")):
            granted += await budget.take_all(audit_takes(tenant)) == 0.0
    assert granted == AUDIT_PER_APP.capacity
    assert await one.level(APP_SCOPE, AUDIT_PER_APP) < 1


async def test_a_refused_take_all_gives_back_what_it_took(table: Table, frozen: Clock) -> None:
    budget = RateBudget(table, now=frozen)
    app = Bucket(2, 10.0)
    takes = [(tenant_scope("x"), FIVE), ("audit:app-small", app)]
    assert await budget.take_all(takes) == 0.0
    assert await budget.take_all(takes) == 0.0
    assert await budget.take_all(takes) == pytest.approx(5.0)  # the app's bucket refused
    assert await budget.level(tenant_scope("x"), FIVE) == pytest.approx(3.0)  # the tenant's came back


class _Lockstep(Table):
    """A table whose reads wait until ``readers`` takers have read: both see the same row and ETag."""

    def __init__(self, inner: Table, readers: int) -> None:
        self._inner = inner
        self._waiting = 0
        self._readers = readers
        self._all_read = asyncio.Event()

    async def get(self, partition: str, row: str, select: list[str] | None = None) -> Any:
        found = await self._inner.get(partition, row, select)
        if not self._all_read.is_set():
            self._waiting += 1
            if self._waiting >= self._readers:
                self._all_read.set()
            await self._all_read.wait()
        return found

    async def insert(self, entity: dict[str, Any]) -> str | None:
        return await self._inner.insert(entity)

    async def replace(self, entity: dict[str, Any], etag: str | None) -> str | None:
        return await self._inner.replace(entity, etag)


@pytest.mark.parametrize("existing", [False, True], ids=["new-row", "existing-row"])
async def test_two_takers_one_token_exactly_one_gets_it(table: Table, frozen: Clock, existing: bool) -> None:
    if existing:  # a bucket that holds one token; else a bucket not yet written (insert-if-absent races)
        await table.insert({"PartitionKey": PARTITION, "RowKey": "race", "tokens": 1.0, "at": frozen.now().timestamp()})
    lockstep = _Lockstep(table, readers=2)
    takers = [RateBudget(lockstep, now=frozen), RateBudget(lockstep, now=frozen)]
    waits = await asyncio.gather(*(t.take("race", ONE) for t in takers))
    assert sorted(w == 0.0 for w in waits) == [False, True], waits
    assert await RateBudget(table, now=frozen).level("race", ONE) == pytest.approx(0.0)


async def test_acquire_waits_on_the_injected_clock_up_to_its_limit(table: Table, frozen: Clock) -> None:
    budget = RateBudget(table, now=frozen)
    takes = [("audit:one", ONE)]
    start = frozen.now()
    assert await budget.acquire(takes, max_wait=0)
    assert not await budget.acquire(takes, max_wait=5)  # 10 s away: not within 5, and no time spent
    assert frozen.now() == start
    assert await budget.acquire(takes, max_wait=10)
    assert (frozen.now() - start).total_seconds() == pytest.approx(10.0)


@pytest.mark.parametrize(
    "row",
    [
        {"tokens": "5", "at": 0.0},  # text, not a number
        {"tokens": -3.0, "at": 0.0},  # negative
        {"tokens": 1e308, "at": "yesterday"},  # hostile time
        {"at": 0.0},  # truncated: no tokens
        {"tokens": True, "at": 0.0},  # a boolean is not a count
    ],
)
async def test_an_unreadable_row_is_an_empty_bucket_that_refills(
    table: Table, frozen: Clock, row: dict[str, Any]
) -> None:
    await table.insert({"PartitionKey": PARTITION, "RowKey": "odd", **row})
    budget = RateBudget(table, now=frozen)
    assert await budget.take("odd", ONE) == pytest.approx(10.0)
    frozen.advance(10)
    assert await budget.take("odd", ONE) == 0.0


async def test_a_huge_stored_level_or_a_clock_behind_never_grants_more_than_capacity(
    table: Table, frozen: Clock
) -> None:
    now = frozen.now().timestamp()
    await table.insert({"PartitionKey": PARTITION, "RowKey": "big", "tokens": 1e300, "at": now + 3600})
    budget = RateBudget(table, now=frozen)  # this instance's clock is an hour behind the row's
    assert [await budget.take("big", ONE) for _ in range(2)] == [0.0, pytest.approx(10.0)]


@pytest.mark.parametrize("scope", ["", "a/b", "a#b", "a?b", "tab\tkey", "x" * 201])
async def test_a_scope_table_storage_would_refuse_is_refused_first(table: Table, scope: str) -> None:
    with pytest.raises(ValueError):
        await RateBudget(table).take(scope, ONE)


@pytest.mark.parametrize(("capacity", "per"), [(0, 10.0), (5, 0.0), (-1, 10.0), (math.inf, 1.0), (5, math.nan)])
def test_a_bucket_needs_a_positive_capacity_and_period(capacity: float, per: float) -> None:
    with pytest.raises(ValueError):
        Bucket(capacity, per)


async def test_a_take_larger_than_the_bucket_is_refused(table: Table) -> None:
    with pytest.raises(ValueError):
        await RateBudget(table).take("audit:one", ONE, tokens=2)
