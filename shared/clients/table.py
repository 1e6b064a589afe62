"""The one table module: every row of the incidents table (incidents, deliveries, ``seen-`` markers,
leases, cursors, alert markers, operational-notice markers) is read and written through :class:`Table`.

Four primitives carry every guarantee the rows need (docs/reliability.md):

- **insert-if-absent** (:meth:`Table.insert`): ``create_entity``; an existing key (409) answers
  ``None`` — dedupe is an insert, never check-then-write;
- **ETag-checked replace** (:meth:`Table.replace`): ``update_entity`` with ``IfNotModified``; a row
  changed (412) or gone (404) since it was read answers ``None`` — the caller re-reads and re-applies;
- **ETag-checked delete** (:meth:`Table.delete`): ``False`` when the row changed or is gone;
- plain reads (:meth:`Table.get`, :meth:`Table.query`) and an unconditional :meth:`Table.upsert`
  (:meth:`Table.upsert_all`: many rows, 100 of a partition per request).

One error mapping: 409/412/404 are the answers above; any other storage failure is a
:class:`~shared.core.errors.TransientError`, so the invocation fails and the platform retries it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from shared.core.errors import TransientError

if TYPE_CHECKING:
    from azure.data.tables import TableEntity
    from azure.data.tables.aio import TableClient


TRANSACTION = 100
"""Operations in one entity group transaction (Table storage's limit)."""


def storage_error(exc: Exception) -> TransientError:
    """The one mapping of an unexpected storage failure: transient, named by its type only (a
    storage error's text may carry the account URL)."""
    return TransientError(f"table storage unavailable: {type(exc).__name__}")


@contextlib.contextmanager
def _mapped() -> Iterator[None]:
    from azure.core.exceptions import AzureError

    try:
        yield
    except AzureError as exc:
        raise storage_error(exc) from exc


def etag_of(entity: Any) -> str | None:
    """The ETag a read row carries in its ``metadata`` (``None`` for a plain dict)."""
    metadata = getattr(entity, "metadata", None)
    return metadata.get("etag") if isinstance(metadata, dict) else None


class Table:
    """One table over an async ``TableClient`` (:func:`shared.clients.storage.table_client`)."""

    def __init__(self, client: TableClient) -> None:
        self._client = client

    async def ensure(self) -> None:
        """Create the table (nothing if it exists)."""
        from azure.core.exceptions import ResourceExistsError

        with _mapped(), contextlib.suppress(ResourceExistsError):
            await self._client.create_table()

    async def close(self) -> None:
        await self._client.close()

    async def get(self, partition: str, row: str, select: list[str] | None = None) -> TableEntity | None:
        """One row with its ETag in ``.metadata``; ``None`` when absent (404)."""
        from azure.core.exceptions import ResourceNotFoundError

        with _mapped():
            try:
                return await self._client.get_entity(partition, row, select=select)
            except ResourceNotFoundError:
                return None

    async def query(self, query: str, parameters: dict[str, Any]) -> list[TableEntity]:
        with _mapped():
            return [entity async for entity in self._client.query_entities(query, parameters=parameters)]

    async def insert(self, entity: dict[str, Any]) -> str | None:
        """Insert-if-absent: the new row's ETag, or ``None`` when the key exists (409)."""
        from azure.core.exceptions import ResourceExistsError

        with _mapped():
            try:
                meta = await self._client.create_entity(entity)
            except ResourceExistsError:
                return None
        return str(meta.get("etag"))

    async def replace(self, entity: dict[str, Any], etag: str | None) -> str | None:
        """Replace the row if it is still as read: the new ETag, or ``None`` when it changed (412)
        or is gone (404)."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
        from azure.data.tables import UpdateMode

        with _mapped():
            try:
                meta = await self._client.update_entity(
                    entity, mode=UpdateMode.REPLACE, etag=etag, match_condition=MatchConditions.IfNotModified
                )
            except (ResourceModifiedError, ResourceNotFoundError):
                return None
        return str(meta.get("etag"))

    async def upsert(self, entity: dict[str, Any]) -> str:
        """Write the row whatever is there (only for rows no one races on: archives, markers)."""
        from azure.data.tables import UpdateMode

        with _mapped():
            meta = await self._client.upsert_entity(entity, mode=UpdateMode.REPLACE)
        return str(meta.get("etag"))

    async def upsert_all(self, entities: Iterable[dict[str, Any]]) -> None:
        """:meth:`upsert` many rows, one request per :data:`TRANSACTION` rows of a partition (an entity
        group transaction: each all or nothing). For rows no one races on, like :meth:`upsert`."""
        from azure.data.tables import UpdateMode

        by_partition: dict[str, dict[str, dict[str, Any]]] = {}
        for entity in entities:  # a row twice in one transaction is refused: the last one wins
            by_partition.setdefault(entity["PartitionKey"], {})[entity["RowKey"]] = entity
        for rows in by_partition.values():
            batch = list(rows.values())
            for start in range(0, len(batch), TRANSACTION):
                ops = [("upsert", e, {"mode": UpdateMode.REPLACE}) for e in batch[start : start + TRANSACTION]]
                await self._transaction(ops)

    async def _transaction(self, ops: list[Any]) -> None:
        """One batch of upserts, sent again once when the connection dropped after sending: the SDK
        retries no POST then (it cannot know the batch is idempotent; upserts are), and a pooled
        connection the server closed while idle ends exactly so ("Server disconnected")."""
        from azure.core.exceptions import ServiceResponseError

        with _mapped():
            try:
                await self._client.submit_transaction(ops)
            except ServiceResponseError:
                await self._client.submit_transaction(ops)

    async def delete(self, partition: str, row: str, etag: str | None = None) -> bool:
        """Delete the row; with ``etag`` only if it is still as read. ``False`` when it changed
        (412) or is gone (404)."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

        condition = MatchConditions.IfNotModified if etag else MatchConditions.Unconditionally
        with _mapped():
            try:
                await self._client.delete_entity(partition, row, etag=etag, match_condition=condition)
            except (ResourceModifiedError, ResourceNotFoundError):
                return False
        return True
