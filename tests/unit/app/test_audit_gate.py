"""A customer tenant's audit gate (shared/app/audit_cadence.py): its own bucket and its cadence ride
on the tenant's audit cursor row, so a take costs only the app's shared bucket; the cadence of a row
written by an older version is read from the row that version kept."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from shared.app.audit_cadence import CADENCE_STATE, READ_AT, TENANT_TOKENS, AuditGate, cadence_due
from shared.clients.checkpoints import Checkpoints
from shared.clients.rate_budget import APP_SCOPE, AUDIT_PER_TENANT, PARTITION, RateBudget
from shared.clients.table import Table
from shared.core.clock import Clock, format_timestamp
from tests.fakes.memtable import MemTable

T = "cccccccc-0000-4000-8000-000000000003"
CADENCE = timedelta(minutes=10)


class _Counting(Table):
    def __init__(self, client: Any) -> None:
        super().__init__(client)
        self.sent: Counter[str] = Counter()

    async def get(self, partition: str, row: str, select: list[str] | None = None) -> Any:
        self.sent[f"get {row}"] += 1
        return await super().get(partition, row, select)

    async def insert(self, entity: dict[str, Any]) -> str | None:
        self.sent[f"write {entity['RowKey']}"] += 1
        return await super().insert(entity)

    async def replace(self, entity: dict[str, Any], etag: str | None) -> str | None:
        self.sent[f"write {entity['RowKey']}"] += 1
        return await super().replace(entity, etag)


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """A clock that moves only when advanced: the budget's and the cadence's."""
    from shared.app import audit_cadence

    own = Clock()
    start = own.now()
    own._now = lambda: start
    monkeypatch.setattr(audit_cadence, "clock", own)
    return own


@pytest.fixture
async def table() -> _Counting:
    t = _Counting(MemTable("incidents"))
    await t.ensure()
    return t


def _gate(table: Table, frozen: Clock) -> AuditGate:
    return AuditGate(RateBudget(table, now=frozen), T, CADENCE)


async def test_the_tenants_bucket_costs_no_request_and_refuses_past_its_burst(table: _Counting, frozen: Clock) -> None:
    gate = _gate(table, frozen)
    gate.resume({})  # a cursor row without a bucket: full
    burst = int(AUDIT_PER_TENANT.capacity)
    assert [await gate.take() for _ in range(burst)] == [True] * burst
    assert table.sent == {f"get {APP_SCOPE}": burst, f"write {APP_SCOPE}": burst}  # only the app's shared row
    assert await gate.take() is False  # the tenant's bucket: refused before the app's row is asked
    assert table.sent == {f"get {APP_SCOPE}": burst, f"write {APP_SCOPE}": burst}
    assert (gate.taken, gate.refused) == (burst, 1)


async def test_a_refusal_of_the_apps_bucket_gives_the_tenants_token_back(table: _Counting, frozen: Clock) -> None:
    spent = {"PartitionKey": PARTITION, "RowKey": APP_SCOPE, "tokens": 0.0, "at": frozen.now().timestamp()}
    await table.insert(spent)
    gate = _gate(table, frozen)
    gate.resume({})
    assert await gate.take() is False
    assert gate.bucket is not None and gate.bucket.tokens == pytest.approx(AUDIT_PER_TENANT.capacity)


async def test_the_bucket_travels_in_the_cursor_row_to_the_next_sweep(table: _Counting, frozen: Clock) -> None:
    first = _gate(table, frozen)
    first.resume({})
    while await first.take():
        pass
    first.note_read()
    row = {"since": "", "next": "", "round": "", **first.fields()}
    assert row[READ_AT] == format_timestamp(frozen.now()) and row[TENANT_TOKENS] == pytest.approx(0.0)
    wait = 1.0 / AUDIT_PER_TENANT.rate  # until one token is back
    frozen.advance(wait / 2)  # a sweep of the same tenant soon after (a retried message)
    second = _gate(table, frozen)
    second.resume(row)
    assert await second.take() is False  # half a token refilled: not one yet
    frozen.advance(wait / 2)
    assert await second.take() is True


@pytest.mark.parametrize("hostile", ["", "NaN", "-1", "1e309", "x" * 5000, None])
async def test_a_cursor_row_whose_bucket_does_not_read_refills_from_now(
    table: _Counting, frozen: Clock, hostile: Any
) -> None:
    gate = _gate(table, frozen)
    bucket = gate.resume({TENANT_TOKENS: hostile, "tenant_tokens_at": frozen.now().timestamp()})
    assert bucket.tokens == 0.0  # never more than it may hold: empty, refilling from now
    frozen.advance(10.0)
    assert await gate.take() is True


async def test_the_cadence_counts_from_read_at_and_an_old_row_from_the_cadence_row(
    table: _Counting, frozen: Clock
) -> None:
    cp = Checkpoints(table, T, remember=True)
    gate = _gate(table, frozen)
    now = frozen.now()
    assert await gate.due(cp, {}, changed=False)  # never read: due
    assert await gate.due(cp, {"next": "https://graph/next"}, changed=False)  # a round is open
    assert await gate.due(cp, {READ_AT: format_timestamp(now)}, changed=True)  # a change
    just_read = {READ_AT: format_timestamp(now)}
    assert await gate.due(cp, just_read, changed=False) == cadence_due(T, CADENCE, now, now)
    table.sent.clear()
    await Checkpoints(table, T).put_state(CADENCE_STATE, {"at": format_timestamp(now)}, None)  # an older version's
    old = Checkpoints(table, T, remember=True)
    assert await gate.due(old, {"since": "", "next": ""}, changed=False) is False  # read just now: not due
    frozen.advance(CADENCE.total_seconds())
    assert await gate.due(old, {"since": "", "next": ""}, changed=False) is True  # its slot passed since
