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

**Remembered rows** (``remember=True``; provider mode's per-invocation :class:`Checkpoints`, issue 17):
a tenant's sweep reads its lease and state rows many times (the lease, the sweep's ``not_before``,
the audit cursor and cadence, the delta link twice, the Identity app's pin). With ``remember`` the
first read loads every ``lease-`` and ``state-`` row of the partition in **one query**, and later
reads answer from what this object last read or wrote — each write still carries the ETag the row
was read with, so the guarantees do not change:

- the lease is taken with the loaded row's ETag: a sweep that took, renewed or released it since
  the load changed that ETag, so the insert (409) or replace (412) refuses and this run skips, as if
  it had read the row a moment later;
- a state row another writer changed since the load (the Identity app's pin written by a
  verification run) makes this object's replace fail (412) as before; the row is then read afresh
  the next time it is asked for, so a caller that re-reads after a conflict sees the other write.

An object that remembers must live for one invocation only (a sweep, a verification): a later one
builds its own (``TenantServices`` does, per message).
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
_LOAD = (
    "PartitionKey eq @pk and (RowKey ge 'lease-' and RowKey lt 'lease.' or RowKey ge 'state-' and RowKey lt 'state.')"
)
"""The rows a remembering :class:`Checkpoints` loads at once: the leases and the state rows."""


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


def _values(entity: Any) -> dict[str, Any]:
    return {k: v for k, v in entity.items() if k not in _SYSTEM}


def alert_key(alert_id: str, condition: str) -> str:
    raw = f"{alert_id}\x1f{condition.lower()}".encode("utf-8", "surrogatepass")
    return "alertq-" + hashlib.sha256(raw).hexdigest()[:40]


class Checkpoints:
    """The rows above for one tenant, over the one table module (:class:`shared.clients.table.Table`)."""

    def __init__(self, table: Table, tenant_id: str, *, remember: bool = False) -> None:
        self._table = table
        self.tenant_id = tenant_id
        self._remember = remember
        self._rows: dict[str, StateRow] | None = None
        """RowKey → the row as last read or written (``etag`` ``None``: absent); ``None``: not loaded."""
        self._unsure: set[str] = set()
        """Rows a write of ours lost to another writer: read afresh when next asked for."""

    async def _read(self, key: str) -> StateRow:
        """The row ``key`` as stored (``etag`` ``None``: absent), remembered or read (module docstring)."""
        if not self._remember:
            entity = await self._table.get(self.tenant_id, key)
            return StateRow({}, None) if entity is None else StateRow(_values(entity), etag_of(entity))
        if self._rows is None:
            found = await self._table.query(_LOAD, {"pk": self.tenant_id})
            self._rows = {str(e["RowKey"]): StateRow(_values(e), etag_of(e)) for e in found}
        if key in self._unsure:
            entity = await self._table.get(self.tenant_id, key)
            self._unsure.discard(key)
            self._rows[key] = StateRow({}, None) if entity is None else StateRow(_values(entity), etag_of(entity))
        row = self._rows.get(key) or StateRow({}, None)
        return StateRow(dict(row.values), row.etag)  # a copy: callers build their next values from it

    def _wrote(self, key: str, values: dict[str, Any], etag: str | None) -> None:
        """Remember a write (``etag`` ``None``: it lost to another writer, so read afresh next time)."""
        if self._rows is None:
            return
        if etag is None:
            self._rows.pop(key, None)
            self._unsure.add(key)
        else:
            self._rows[key] = StateRow(dict(values), etag)

    async def close(self) -> None:
        await self._table.close()

    # --- lease -----------------------------------------------------------------------------------
    async def acquire(
        self, name: str, owner: str, ttl: timedelta, *, min_gap: timedelta | None = None
    ) -> Lease | LeaseRefused:
        """Take the lease ``name`` for ``ttl``, unless another owner holds a live one, or (with
        ``min_gap``) the previous run started less than ``min_gap`` ago."""
        now = clock.now()
        key = f"lease-{name}"
        values = {"owner": owner, "expires_at": format_timestamp(now + ttl), "started_at": format_timestamp(now)}
        row = {"PartitionKey": self.tenant_id, "RowKey": key, **values}
        current = await self._read(key)
        if current.etag is None:
            etag = await self._table.insert(row)
        else:
            expires = parse_timestamp(current.values.get("expires_at"))
            if expires is not None and expires > now and current.values.get("owner") != owner:
                return LeaseRefused("held")
            started = parse_timestamp(current.values.get("started_at"))
            if min_gap is not None and started is not None and now - started < min_gap:
                return LeaseRefused("too_soon")
            etag = await self._table.replace(row, current.etag)
        self._wrote(key, values, etag)
        if etag is None:
            return LeaseRefused("held")  # another run got there between our read and our write
        return Lease(name, owner, etag, now)

    async def release(self, lease: Lease) -> None:
        """End the lease now (keeping ``started_at`` for the next run's gap check). A lease that
        expired and was taken over keeps the new owner's row."""
        key = f"lease-{lease.name}"
        values = {
            "owner": lease.owner,
            "expires_at": format_timestamp(clock.now()),
            "started_at": format_timestamp(lease.started_at),
            "finished_at": format_timestamp(clock.now()),
        }
        etag = await self._table.replace({"PartitionKey": self.tenant_id, "RowKey": key, **values}, lease.etag)
        self._wrote(key, values, etag)

    # --- cursors ---------------------------------------------------------------------------------
    async def get_state(self, name: str) -> StateRow:
        return await self._read(f"state-{name}")

    async def put_state(self, name: str, values: dict[str, Any], etag: str | None) -> StateRow | None:
        """Write ``values`` if the row is still as read (``etag``; ``None``: not there yet).
        ``None`` means another writer changed it first: the caller re-reads next run."""
        row = {"PartitionKey": self.tenant_id, "RowKey": f"state-{name}", **values}
        new = await self._table.insert(row) if etag is None else await self._table.replace(row, etag)
        self._wrote(f"state-{name}", values, new)
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
