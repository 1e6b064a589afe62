"""The latest health-check table, one row per tenant in the incidents table (``health-latest``).

Written by the health timer after each run, read by the status page. The rows are plain
``{name, verdict, ok, evidence, app}`` mappings (this layer does not know the checks' types); the
evidence is already redacted by the check that produced it and is cut here to keep the row small.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from shared.core.clock import format_timestamp, parse_timestamp
from shared.core.errors import TransientError

if TYPE_CHECKING:
    from azure.data.tables.aio import TableClient

ROW_KEY = "health-latest"
MAX_ROWS = 64
MAX_EVIDENCE = 300
_FIELDS = ("name", "verdict", "ok", "evidence", "app")


@dataclass(frozen=True, slots=True)
class HealthSnapshot:
    at: datetime
    rows: tuple[dict[str, str], ...]


def _clean(row: Mapping[str, object]) -> dict[str, str]:
    out = {k: str(row.get(k) or "")[:MAX_EVIDENCE] for k in _FIELDS}
    return out


class HealthRows:
    def __init__(self, table: TableClient, tenant_id: str) -> None:
        self._table = table
        self._tenant = tenant_id

    async def save(self, rows: Sequence[Mapping[str, object]], at: datetime) -> None:
        from azure.core.exceptions import AzureError
        from azure.data.tables import UpdateMode

        entity = {
            "PartitionKey": self._tenant,
            "RowKey": ROW_KEY,
            "at": format_timestamp(at),
            "rows": json.dumps([_clean(r) for r in rows[:MAX_ROWS]]),
        }
        try:
            await self._table.upsert_entity(entity, mode=UpdateMode.REPLACE)
        except AzureError as exc:
            raise TransientError(f"table storage unavailable: {type(exc).__name__}") from exc

    async def latest(self) -> HealthSnapshot | None:
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        try:
            entity = await self._table.get_entity(self._tenant, ROW_KEY)
        except ResourceNotFoundError:
            return None
        except AzureError as exc:
            raise TransientError(f"table storage unavailable: {type(exc).__name__}") from exc
        at = parse_timestamp(entity.get("at"))
        try:
            raw = json.loads(entity.get("rows") or "[]")
        except json.JSONDecodeError:
            return None
        if at is None or not isinstance(raw, list):
            return None
        return HealthSnapshot(at, tuple(_clean(r) for r in raw[:MAX_ROWS] if isinstance(r, dict)))
