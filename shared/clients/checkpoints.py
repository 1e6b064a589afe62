"""Small state rows beside the incidents (same table, same tenant partition), each ETag-guarded.

``lease-<name>``   who runs the timer now and until when, and when the last run started. A second
                   concurrent run (a slow tick overlapping the next, a past-due tick after a
                   restart) sees a live lease and skips instead of doubling Graph traffic and
                   notices. A crashed run's lease simply expires.
``state-<name>``   a cursor the timer resumes from: the service-principal delta link and the ids it
                   tracks, the audit-log poll checkpoint, the "Cisco Webex Identity" appId found
                   by name (:mod:`shared.checks.identity_app`). Replaced only with the ETag it was read
                   with, so two writers never silently overwrite each other.
``alertq-<hash>``  an alert window (alert id + condition) already re-queried in Log Analytics: an
                   action group delivers the same alert up to 6 times; the workspace is asked once.
                   Written after the rows were processed, so a crash re-queries instead of losing.

The keys carry the tenant id as partition, like every other row (one deployment may later watch
many tenants).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.clients.table import etag_of
from shared.core.clock import clock, format_timestamp, parse_timestamp

if TYPE_CHECKING:
    from shared.clients.table import Table

_SYSTEM = frozenset({"PartitionKey", "RowKey", "Timestamp"})


@dataclass(frozen=True, slots=True)
class Lease:
    name: str
    owner: str
    etag: str
    started_at: datetime


@dataclass(frozen=True, slots=True)
class LeaseRefused:
    reason: str  # held | too_soon


@dataclass(frozen=True, slots=True)
class StateRow:
    values: dict[str, Any]
    etag: str | None


def alert_key(alert_id: str, condition: str) -> str:
    raw = f"{alert_id}\x1f{condition.lower()}".encode("utf-8", "surrogatepass")
    return "alertq-" + hashlib.sha256(raw).hexdigest()[:40]


class Checkpoints:
    """The rows above for one tenant, over the one table module (:class:`shared.clients.table.Table`)."""

    def __init__(self, table: Table, tenant_id: str) -> None:
        self._table = table
        self.tenant_id = tenant_id

    async def close(self) -> None:
        await self._table.close()

    # --- lease -----------------------------------------------------------------------------------
    async def acquire(
        self, name: str, owner: str, ttl: timedelta, *, min_gap: timedelta | None = None
    ) -> Lease | LeaseRefused:
        """Take the lease ``name`` for ``ttl``, unless another owner holds a live one, or (with
        ``min_gap``) the previous run started less than ``min_gap`` ago."""
        now = clock.now()
        row = {
            "PartitionKey": self.tenant_id,
            "RowKey": f"lease-{name}",
            "owner": owner,
            "expires_at": format_timestamp(now + ttl),
            "started_at": format_timestamp(now),
        }
        current = await self._table.get(self.tenant_id, f"lease-{name}")
        if current is None:
            etag = await self._table.insert(row)
        else:
            expires = parse_timestamp(current.get("expires_at"))
            if expires is not None and expires > now and current.get("owner") != owner:
                return LeaseRefused("held")
            started = parse_timestamp(current.get("started_at"))
            if min_gap is not None and started is not None and now - started < min_gap:
                return LeaseRefused("too_soon")
            etag = await self._table.replace(row, etag_of(current))
        if etag is None:
            return LeaseRefused("held")  # another run got there between our read and our write
        return Lease(name, owner, etag, now)

    async def release(self, lease: Lease) -> None:
        """End the lease now (keeping ``started_at`` for the next run's gap check). A lease that
        expired and was taken over keeps the new owner's row."""
        row = {
            "PartitionKey": self.tenant_id,
            "RowKey": f"lease-{lease.name}",
            "owner": lease.owner,
            "expires_at": format_timestamp(clock.now()),
            "started_at": format_timestamp(lease.started_at),
            "finished_at": format_timestamp(clock.now()),
        }
        await self._table.replace(row, lease.etag)

    # --- cursors ---------------------------------------------------------------------------------
    async def get_state(self, name: str) -> StateRow:
        entity = await self._table.get(self.tenant_id, f"state-{name}")
        if entity is None:
            return StateRow({}, None)
        values = {k: v for k, v in entity.items() if k not in _SYSTEM}
        return StateRow(values, etag_of(entity))

    async def put_state(self, name: str, values: dict[str, Any], etag: str | None) -> StateRow | None:
        """Write ``values`` if the row is still as read (``etag``; ``None``: not there yet).
        ``None`` means another writer changed it first: the caller re-reads next run."""
        row = {"PartitionKey": self.tenant_id, "RowKey": f"state-{name}", **values}
        new = await self._table.insert(row) if etag is None else await self._table.replace(row, etag)
        return None if new is None else StateRow(dict(values), new)

    # --- alert re-query markers ------------------------------------------------------------------
    async def alert_done(self, alert_id: str, condition: str) -> bool:
        return await self._table.get(self.tenant_id, alert_key(alert_id, condition), select=["RowKey"]) is not None

    async def mark_alert_done(self, alert_id: str, condition: str, rows: int) -> None:
        await self._table.insert(
            {
                "PartitionKey": self.tenant_id,
                "RowKey": alert_key(alert_id, condition),
                "alert_id": alert_id[:1024],
                "condition": condition[:32],
                "rows": rows,
                "at": format_timestamp(clock.now()),
            }
        )
