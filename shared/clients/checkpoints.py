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

from shared.core.clock import clock, format_timestamp, parse_timestamp
from shared.core.errors import TransientError

if TYPE_CHECKING:
    from azure.data.tables.aio import TableClient

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


def _storage_error(exc: Exception) -> TransientError:
    return TransientError(f"table storage unavailable: {type(exc).__name__}")


def alert_key(alert_id: str, condition: str) -> str:
    raw = f"{alert_id}\x1f{condition.lower()}".encode("utf-8", "surrogatepass")
    return "alertq-" + hashlib.sha256(raw).hexdigest()[:40]


class Checkpoints:
    """The rows above for one tenant, over an async ``TableClient``."""

    def __init__(self, table: TableClient, tenant_id: str) -> None:
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
        from azure.core import MatchConditions
        from azure.core.exceptions import (
            AzureError,
            ResourceExistsError,
            ResourceModifiedError,
            ResourceNotFoundError,
        )
        from azure.data.tables import UpdateMode

        now = clock.now()
        row = {
            "PartitionKey": self.tenant_id,
            "RowKey": f"lease-{name}",
            "owner": owner,
            "expires_at": format_timestamp(now + ttl),
            "started_at": format_timestamp(now),
        }
        try:
            try:
                current = await self._table.get_entity(self.tenant_id, f"lease-{name}")
            except ResourceNotFoundError:
                meta = await self._table.create_entity(row)
                return Lease(name, owner, str(meta.get("etag")), now)
            expires = parse_timestamp(current.get("expires_at"))
            if expires is not None and expires > now and current.get("owner") != owner:
                return LeaseRefused("held")
            started = parse_timestamp(current.get("started_at"))
            if min_gap is not None and started is not None and now - started < min_gap:
                return LeaseRefused("too_soon")
            meta = await self._table.update_entity(
                row,
                mode=UpdateMode.REPLACE,
                etag=current.metadata.get("etag"),
                match_condition=MatchConditions.IfNotModified,
            )
        except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError):
            return LeaseRefused("held")  # another run got there between our read and our write
        except AzureError as exc:
            raise _storage_error(exc) from exc
        return Lease(name, owner, str(meta.get("etag")), now)

    async def release(self, lease: Lease) -> None:
        """End the lease now (keeping ``started_at`` for the next run's gap check)."""
        from azure.core import MatchConditions
        from azure.core.exceptions import AzureError, ResourceModifiedError, ResourceNotFoundError
        from azure.data.tables import UpdateMode

        row = {
            "PartitionKey": self.tenant_id,
            "RowKey": f"lease-{lease.name}",
            "owner": lease.owner,
            "expires_at": format_timestamp(clock.now()),
            "started_at": format_timestamp(lease.started_at),
            "finished_at": format_timestamp(clock.now()),
        }
        try:
            await self._table.update_entity(
                row, mode=UpdateMode.REPLACE, etag=lease.etag, match_condition=MatchConditions.IfNotModified
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            pass  # expired and taken over: the new owner's row stays
        except AzureError as exc:
            raise _storage_error(exc) from exc

    # --- cursors ---------------------------------------------------------------------------------
    async def get_state(self, name: str) -> StateRow:
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        try:
            entity = await self._table.get_entity(self.tenant_id, f"state-{name}")
        except ResourceNotFoundError:
            return StateRow({}, None)
        except AzureError as exc:
            raise _storage_error(exc) from exc
        values = {k: v for k, v in entity.items() if k not in _SYSTEM}
        return StateRow(values, entity.metadata.get("etag"))

    async def put_state(self, name: str, values: dict[str, Any], etag: str | None) -> StateRow | None:
        """Write ``values`` if the row is still as read (``etag``; ``None``: not there yet).
        ``None`` means another writer changed it first: the caller re-reads next run."""
        from azure.core import MatchConditions
        from azure.core.exceptions import (
            AzureError,
            ResourceExistsError,
            ResourceModifiedError,
            ResourceNotFoundError,
        )
        from azure.data.tables import UpdateMode

        row = {"PartitionKey": self.tenant_id, "RowKey": f"state-{name}", **values}
        try:
            if etag is None:
                meta = await self._table.create_entity(row)
            else:
                meta = await self._table.update_entity(
                    row, mode=UpdateMode.REPLACE, etag=etag, match_condition=MatchConditions.IfNotModified
                )
        except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError):
            return None
        except AzureError as exc:
            raise _storage_error(exc) from exc
        return StateRow(dict(values), meta.get("etag"))

    # --- alert re-query markers ------------------------------------------------------------------
    async def alert_done(self, alert_id: str, condition: str) -> bool:
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        try:
            await self._table.get_entity(self.tenant_id, alert_key(alert_id, condition), select=["RowKey"])
        except ResourceNotFoundError:
            return False
        except AzureError as exc:
            raise _storage_error(exc) from exc
        return True

    async def mark_alert_done(self, alert_id: str, condition: str, rows: int) -> None:
        from azure.core.exceptions import AzureError, ResourceExistsError

        try:
            await self._table.create_entity(
                {
                    "PartitionKey": self.tenant_id,
                    "RowKey": alert_key(alert_id, condition),
                    "alert_id": alert_id[:1024],
                    "condition": condition[:32],
                    "rows": rows,
                    "at": format_timestamp(clock.now()),
                }
            )
        except ResourceExistsError:
            pass
        except AzureError as exc:
            raise _storage_error(exc) from exc
