"""An in-memory :class:`shared.clients.table.Table`: insert-if-absent, ETag replace and delete
answered exactly as Azurite answers them (``test_table_contract.py`` runs the same cases on both).

Every operation yields to the event loop once, as a network call does, so two coroutines gathered
on it interleave (read, read, write, write) and ETag races happen for real.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any


class Row(dict[str, Any]):
    """A stored row as the SDK hands it out: the properties, and ``metadata["etag"]``."""

    metadata: dict[str, Any]


class MemoryTable:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], tuple[dict[str, Any], str]] = {}
        self._etags = itertools.count(1)
        self.writes = 0

    def _etag(self) -> str:
        return f'W/"mem-{next(self._etags)}"'

    def _out(self, key: tuple[str, str]) -> Row:
        entity, etag = self.rows[key]
        row = Row(entity)
        row.metadata = {"etag": etag}
        return row

    async def ensure(self) -> None:
        await asyncio.sleep(0)

    async def close(self) -> None:
        return None

    async def get(self, partition: str, row: str, select: list[str] | None = None) -> Row | None:
        await asyncio.sleep(0)
        if (partition, row) not in self.rows:
            return None
        found = self._out((partition, row))
        if select is not None:
            kept = Row({k: v for k, v in found.items() if k in select})
            kept.metadata = found.metadata
            return kept
        return found

    async def query(self, query: str, parameters: dict[str, Any]) -> list[Row]:
        raise NotImplementedError("queries run on Azurite (tests/test_*.py)")

    async def insert(self, entity: dict[str, Any]) -> str | None:
        await asyncio.sleep(0)
        key = (entity["PartitionKey"], entity["RowKey"])
        if key in self.rows:
            return None
        etag = self._etag()
        self.rows[key] = (dict(entity), etag)
        self.writes += 1
        return etag

    async def replace(self, entity: dict[str, Any], etag: str | None) -> str | None:
        await asyncio.sleep(0)
        key = (entity["PartitionKey"], entity["RowKey"])
        current = self.rows.get(key)
        if current is None or current[1] != etag:
            return None
        new = self._etag()
        self.rows[key] = (dict(entity), new)
        self.writes += 1
        return new

    async def upsert(self, entity: dict[str, Any]) -> str:
        await asyncio.sleep(0)
        etag = self._etag()
        self.rows[(entity["PartitionKey"], entity["RowKey"])] = (dict(entity), etag)
        self.writes += 1
        return etag

    async def delete(self, partition: str, row: str, etag: str | None = None) -> bool:
        await asyncio.sleep(0)
        current = self.rows.get((partition, row))
        if current is None:
            return True  # the SDK swallows a 404 on delete (azure-data-tables delete_entity)
        if etag is not None and current[1] != etag:
            return False
        del self.rows[(partition, row)]
        self.writes += 1
        return True
