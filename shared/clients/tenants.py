"""The tenants table (``TENANTS_TABLE``): the customer tenants a provider deployment watches.

Rows go through the one table module (:class:`shared.clients.table.Table`): ``add`` is
insert-if-absent (a tenant already there is not overwritten), ``set_onboarded`` an ETag-checked
replace, ``remove`` a delete. Every row read is checked by :func:`shared.core.tenant.tenant_from_row`;
:meth:`TenantStore.list` returns the rows it could not trust apart, by row key, so one hand-edited
row never hides the others.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from shared.core.tenant import PARTITION, Tenant, TenantError, tenant_from_row, tenant_guid, tenant_to_row

if TYPE_CHECKING:
    from shared.clients.table import Table


@dataclass(frozen=True, slots=True)
class TenantListing:
    """The tenants read, and the row keys of rows that failed their check (with why)."""

    tenants: tuple[Tenant, ...]
    bad_rows: tuple[tuple[str, str], ...] = ()


class TenantStore:
    """The tenants rows over one :class:`~shared.clients.table.Table`."""

    def __init__(self, table: Table) -> None:
        self._table = table

    async def ensure(self) -> None:
        await self._table.ensure()

    async def close(self) -> None:
        await self._table.close()

    async def add(self, tenant: Tenant) -> bool:
        """Insert the tenant; ``False`` when its id is already there (nothing is changed then)."""
        return await self._table.insert(tenant_to_row(tenant)) is not None

    async def get(self, tenant_id: str) -> Tenant | None:
        row = await self._table.get(PARTITION, tenant_guid(tenant_id))
        return None if row is None else tenant_from_row(row)

    async def list(self) -> TenantListing:
        rows = await self._table.query("PartitionKey eq @p", {"p": PARTITION})
        good: list[Tenant] = []
        bad: list[tuple[str, str]] = []
        for row in rows:
            try:
                good.append(tenant_from_row(row))
            except TenantError as exc:
                bad.append((str(row.get("RowKey", ""))[:80], str(exc)))
        return TenantListing(tuple(sorted(good, key=lambda t: t.tenant_id)), tuple(bad))

    async def remove(self, tenant_id: str) -> bool:
        """Delete the tenant's row; ``False`` when there was none."""
        key = tenant_guid(tenant_id)
        if await self._table.get(PARTITION, key) is None:
            return False
        return await self._table.delete(PARTITION, key)

    async def set_onboarded(self, tenant_id: str, at: datetime) -> Tenant | None:
        """Record that access to the tenant works (ETag-checked: a row changed meanwhile is re-read)."""
        from shared.clients.table import etag_of

        key = tenant_guid(tenant_id)
        for _ in range(3):
            row = await self._table.get(PARTITION, key)
            if row is None:
                return None
            tenant = replace(tenant_from_row(row), onboarded_at=at)
            if await self._table.replace(tenant_to_row(tenant), etag_of(row)) is not None:
                return tenant
        return None
