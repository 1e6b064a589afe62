"""A tenant sweep's Checkpoints remember its rows (shared/clients/checkpoints.py, ``remember=True``):
one partition query loads the lease and state rows, later reads cost nothing, and every write keeps
its ETag check — a lease another sweep took since the load is still refused, and a state row
another writer changed is read afresh after the conflict. Over the in-memory table, counting requests."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from shared.clients.checkpoints import Checkpoints, Lease, LeaseRefused
from shared.clients.table import Table
from tests.fakes.memtable import MemTable

A, B = "aaaaaaaa-0000-4000-8000-000000000001", "bbbbbbbb-0000-4000-8000-000000000002"
TTL = timedelta(minutes=10)


class Counting(Table):
    """The one table module, counting what it sends by operation."""

    def __init__(self, client: Any) -> None:
        super().__init__(client)
        self.sent: Counter[str] = Counter()

    async def get(self, partition: str, row: str, select: list[str] | None = None) -> Any:
        self.sent["get"] += 1
        return await super().get(partition, row, select)

    async def query(self, query: str, parameters: dict[str, Any]) -> list[Any]:
        self.sent["query"] += 1
        return await super().query(query, parameters)

    async def insert(self, entity: dict[str, Any]) -> str | None:
        self.sent["insert"] += 1
        return await super().insert(entity)

    async def replace(self, entity: dict[str, Any], etag: str | None) -> str | None:
        self.sent["replace"] += 1
        return await super().replace(entity, etag)


@pytest.fixture
async def table() -> Counting:
    t = Counting(MemTable("incidents"))
    await t.ensure()
    t.sent.clear()
    return t


async def _seed(table: Table) -> None:
    """Rows of tenant A (a lease, two state rows, an incident and a marker) and of tenant B."""
    other = Checkpoints(table, B)
    await other.put_state("audit-poll", {"since": "b-cursor"}, None)
    mine = Checkpoints(table, A)
    await mine.put_state("audit-poll", {"since": "2026-11-30T04:00:00.0000000+00:00", "next": ""}, None)
    await mine.put_state("sp-delta", {"link": "https://graph/delta?token=1", "ids": "{}"}, None)
    lease = await mine.acquire("health", "earlier-run", TTL)
    assert isinstance(lease, Lease)
    await mine.release(lease)
    await table.insert({"PartitionKey": A, "RowKey": "open-integration", "state": "open"})
    await table.insert({"PartitionKey": A, "RowKey": "seen-0123", "outcome": "x"})


async def test_rows_are_loaded_once_and_read_from_memory(table: Counting) -> None:
    await _seed(table)
    table.sent.clear()
    cp = Checkpoints(table, A, remember=True)
    audit = await cp.get_state("audit-poll")
    assert audit.values["since"].startswith("2026-11-30T04:00") and audit.etag
    for _ in range(3):
        assert (await cp.get_state("sp-delta")).values["link"].endswith("token=1")
        assert (await cp.get_state("audit-poll")) == audit
    absent = await cp.get_state("tenant-sweep")
    assert absent.values == {} and absent.etag is None  # not there: known from the load, no read
    assert table.sent == {"query": 1}
    lease = await cp.acquire("health", "this-run", TTL)  # the loaded lease row: one write, no read
    assert isinstance(lease, Lease)
    assert table.sent == {"query": 1, "replace": 1}


async def test_a_read_value_is_a_copy_and_writes_are_remembered(table: Counting) -> None:
    await _seed(table)
    cp = Checkpoints(table, A, remember=True)
    state = await cp.get_state("sp-delta")
    state.values["link"] = "changed by the caller, not saved"
    assert (await cp.get_state("sp-delta")).values["link"].endswith("token=1")
    saved = await cp.put_state("sp-delta", {"link": "https://graph/delta?token=2", "ids": "{}"}, state.etag)
    assert saved is not None
    new = await cp.get_state("tenant-sweep")
    assert await cp.put_state("tenant-sweep", {"not_before": "x"}, new.etag) is not None  # insert
    table.sent.clear()
    assert await cp.get_state("sp-delta") == saved  # as written, with the new ETag
    assert (await cp.get_state("tenant-sweep")).values == {"not_before": "x"}
    assert table.sent == {}
    again = await cp.put_state("sp-delta", {"link": "3", "ids": "{}"}, saved.etag)  # the remembered ETag works
    assert again is not None


async def test_only_the_tenants_own_lease_and_state_rows_are_loaded(table: Counting) -> None:
    await _seed(table)
    cp = Checkpoints(table, A, remember=True)
    await cp.get_state("audit-poll")
    assert cp._rows is not None and sorted(cp._rows) == ["lease-health", "state-audit-poll", "state-sp-delta"]
    other = Checkpoints(table, B, remember=True)
    assert (await other.get_state("audit-poll")).values == {"since": "b-cursor"}
    assert (await other.get_state("sp-delta")).etag is None  # A's row is not B's


@pytest.mark.parametrize("lease_before", [False, True], ids=["no-lease-row", "released-lease-row"])
async def test_a_lease_another_sweep_took_since_the_load_is_refused(table: Counting, lease_before: bool) -> None:
    """The sweep loaded its rows (and the lease row, or its absence); another sweep of the same tenant
    takes the lease before this one acquires it: the ETag (or the insert) refuses this one, and its
    next attempt reads the lease afresh instead of trusting its memory."""
    if lease_before:
        await _seed(table)
    mine = Checkpoints(table, A, remember=True)
    await mine.get_state("audit-poll")  # the load
    theirs = Checkpoints(table, A, remember=True)
    taken = await theirs.acquire("health", "other-sweep", TTL)
    assert isinstance(taken, Lease)
    assert await mine.acquire("health", "this-sweep", TTL) == LeaseRefused("held")
    table.sent.clear()
    assert await mine.acquire("health", "this-sweep", TTL) == LeaseRefused("held")  # live: held
    assert table.sent == {"get": 1}  # read afresh after the lost write
    await theirs.release(taken)
    fresh = Checkpoints(table, A, remember=True)  # the next sweep
    assert isinstance(await fresh.acquire("health", "next-sweep", TTL), Lease)


async def test_a_lease_released_and_taken_again_since_the_load_is_refused(table: Counting) -> None:
    """Loaded while another sweep still held it, which then released it; a third took it: still refused."""
    await _seed(table)
    first = Checkpoints(table, A, remember=True)
    held = await first.acquire("health", "first", TTL)
    assert isinstance(held, Lease)
    mine = Checkpoints(table, A, remember=True)
    await mine.get_state("sp-delta")  # loads the live lease
    assert await mine.acquire("health", "mine", TTL) == LeaseRefused("held")
    await first.release(held)
    third = Checkpoints(table, A)
    assert isinstance(await third.acquire("health", "third", TTL), Lease)
    late = Checkpoints(table, A, remember=True)
    await late.get_state("sp-delta")
    assert await late.acquire("health", "late", TTL) == LeaseRefused("held")


async def test_a_state_row_another_writer_changed_is_read_afresh_after_the_conflict(table: Counting) -> None:
    """The Identity app's pin is also written outside the sweep (a verification run's checks): the
    sweep's remembered ETag then loses, and the next read returns the other writer's row."""
    await _seed(table)
    await Checkpoints(table, A).put_state("identity-app", {"app_id": "old"}, None)
    mine = Checkpoints(table, A, remember=True)
    pin = await mine.get_state("identity-app")
    other = Checkpoints(table, A)
    theirs = await other.get_state("identity-app")
    assert await other.put_state("identity-app", {"app_id": "theirs"}, theirs.etag) is not None
    assert await mine.put_state("identity-app", {"app_id": "mine"}, pin.etag) is None  # the ETag refuses
    table.sent.clear()
    now = await mine.get_state("identity-app")
    assert now.values == {"app_id": "theirs"} and table.sent == {"get": 1}
    assert await mine.put_state("identity-app", {"app_id": "mine"}, now.etag) is not None
    assert (await Checkpoints(table, A).get_state("identity-app")).values == {"app_id": "mine"}


async def test_a_row_created_by_another_writer_since_the_load_refuses_the_insert(table: Counting) -> None:
    mine = Checkpoints(table, A, remember=True)
    assert (await mine.get_state("sp-delta")).etag is None  # loaded: absent
    await Checkpoints(table, A).put_state("sp-delta", {"link": "theirs"}, None)
    assert await mine.put_state("sp-delta", {"link": "mine"}, None) is None  # insert-if-absent: 409
    assert (await mine.get_state("sp-delta")).values == {"link": "theirs"}


async def test_without_remember_every_read_goes_to_storage(table: Counting) -> None:
    await _seed(table)
    table.sent.clear()
    cp = Checkpoints(table, A)
    for _ in range(3):
        await cp.get_state("audit-poll")
    assert table.sent == {"get": 3}
