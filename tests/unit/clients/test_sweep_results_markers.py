"""The fan-out's queued markers (shared/clients/sweep_results.py): one entity group transaction per
100 tenants, not one upsert each (1,000 tenants: 10 requests instead of 1,000), read back by the board."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from shared.clients.sweep_results import SweepResults
from shared.clients.table import Table
from tests.fakes.memtable import MemTable


class _Counting(MemTable):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.sent: Counter[str] = Counter()

    async def upsert_entity(self, *args: Any, **kwargs: Any) -> Any:
        self.sent["upsert"] += 1
        return await super().upsert_entity(*args, **kwargs)

    async def submit_transaction(self, operations: Any, **kwargs: Any) -> Any:
        self.sent["transaction"] += 1
        return await super().submit_transaction(operations, **kwargs)


async def test_markers_go_100_a_request_and_the_board_reads_them() -> None:
    client = _Counting("incidents")
    table = Table(client)  # type: ignore[arg-type]
    await table.ensure()
    results = SweepResults(table)
    tenants = [f"{i:08x}-0000-4000-8000-{i:012x}" for i in range(250)]
    at = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)
    await results.mark_queued(tenants, "2026-11-30T04:00:00.000000Z", at)
    assert client.sent == {"transaction": 3}
    board = await results.board()
    assert sorted(board.queued) == tenants
    assert board.queued[tenants[0]] == ("2026-11-30T04:00:00.000000Z", at)
    await results.mark_queued(tenants[:1], "2026-11-30T04:01:00.000000Z", at)  # the next tick: replaced
    assert (await results.board()).queued[tenants[0]][0] == "2026-11-30T04:01:00.000000Z"
