"""Each tenant's last sweep result and the timer's "queued" markers (provider mode), in the incidents table.

- **Result rows**: PartitionKey :data:`RESULTS`, RowKey the tenant id — the sweep id that produced it,
  the verdict (:data:`VERDICTS`), up to :data:`MAX_REASONS` short reasons, the tenant's display
  name, when it finished and, for a throttled tenant, until when Graph asked it to wait. The tenant
  sweep writes its own row; the timer reads them all (one partition, one query) for the digest.
- **Queued markers**: PartitionKey :data:`QUEUED`, RowKey the tenant id — the sweep id of the last
  message the timer sent for the tenant. A tenant whose marker is newer than its result row still
  has a message waiting and is not sent another (:mod:`shared.app.tenant_sweep`). The marker also
  keeps the tenant's verdict when it was sent and **since when** that verdict holds (the status
  page's "since"): the timer reads every result before each fan-out anyway, so it carries the start
  of the verdict forward while the verdict stays and restarts it at the result that changed it —
  no extra request in a tenant's sweep (:meth:`Board.since`).

Each kind of row has one writer (a tenant's sweep is under its lease; the timer under its own), so
both are plain upserts — except the poison-queue watcher's result (:mod:`shared.app.sweep_poison`),
which runs outside the tenant's lease and so writes ETag-checked (:meth:`SweepResults.read`,
:meth:`SweepResults.put_if_unchanged`): a sweep that finished meanwhile is never overwritten.
Rows are read back tolerantly: a row that does not read (hand-edited) counts
as no row — it never raises, and never makes a tenant look healthy (the next sweep rewrites it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.core.clock import format_timestamp, parse_timestamp

if TYPE_CHECKING:
    from shared.clients.table import Table

RESULTS = "provider-sweep"
QUEUED = "provider-sweep-queued"
VERDICTS = ("healthy", "unhealthy", "throttled", "unreachable")
MAX_REASONS = 10
MAX_REASON = 300


@dataclass(frozen=True, slots=True)
class SweepResult:
    """One tenant's last sweep, as its row says."""

    tenant_id: str
    sweep_id: str
    verdict: str
    reasons: tuple[str, ...] = ()
    display_name: str = ""
    finished_at: datetime | None = None
    not_before: datetime | None = None

    @property
    def troubled(self) -> bool:
        return self.verdict != "healthy"


@dataclass(frozen=True, slots=True)
class Board:
    """What the timer reads before a fan-out: each tenant's last result and last queued sweep."""

    results: dict[str, SweepResult]
    queued: dict[str, tuple[str, datetime]]
    held: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    """Each marker's (verdict, since): the tenant's verdict when its last message was sent, and since when."""

    def since(self, tenant_id: str) -> datetime | None:
        """Since when the tenant's last verdict holds: the marker's start while the verdict is the one
        it recorded, else the sweep that found the new verdict (``None``: no result yet)."""
        result = self.results.get(tenant_id)
        if result is None:
            return None
        held = self.held.get(tenant_id)
        if held is not None and held[0] == result.verdict:
            return held[1]
        return result.finished_at

    def holding(self, tenant_ids: Iterable[str]) -> dict[str, tuple[str, datetime]]:
        """(verdict, since) of each tenant that has a result, for its next marker."""
        out: dict[str, tuple[str, datetime]] = {}
        for tenant_id in tenant_ids:
            since, result = self.since(tenant_id), self.results.get(tenant_id)
            if since is not None and result is not None:
                out[tenant_id] = (result.verdict, since)
        return out


def _reasons(value: Any) -> tuple[str, ...]:
    try:
        items = json.loads(value) if isinstance(value, str) else None
    except (ValueError, RecursionError):
        return ()
    if not isinstance(items, list):
        return ()
    return tuple(str(i)[:MAX_REASON] for i in items[:MAX_REASONS] if isinstance(i, str))


def result_from_row(row: Any) -> SweepResult | None:
    """A result row as :class:`SweepResult`; ``None`` when it does not read."""
    tenant, sweep, verdict = row.get("RowKey"), row.get("sweep_id"), row.get("verdict")
    if not (isinstance(tenant, str) and isinstance(sweep, str) and verdict in VERDICTS):
        return None
    name = row.get("display_name")
    return SweepResult(
        tenant_id=tenant,
        sweep_id=sweep,
        verdict=str(verdict),
        reasons=_reasons(row.get("reasons")),
        display_name=name if isinstance(name, str) else "",
        finished_at=parse_timestamp(row.get("finished_at")),
        not_before=parse_timestamp(row.get("not_before")),
    )


def _row(result: SweepResult) -> dict[str, Any]:
    return {
        "PartitionKey": RESULTS,
        "RowKey": result.tenant_id,
        "sweep_id": result.sweep_id,
        "verdict": result.verdict,
        "reasons": json.dumps([r[:MAX_REASON] for r in result.reasons[:MAX_REASONS]]),
        "display_name": result.display_name,
        "finished_at": format_timestamp(result.finished_at) if result.finished_at else "",
        "not_before": format_timestamp(result.not_before) if result.not_before else "",
    }


def _marker(tenant_id: str, sweep_id: str, stamp: str, held: tuple[str, datetime] | None) -> dict[str, Any]:
    """A queued marker row: the sweep sent, when, and the tenant's (verdict, since) when it has one."""
    row = {"PartitionKey": QUEUED, "RowKey": tenant_id, "sweep_id": sweep_id, "at": stamp}
    if held is not None:
        row |= {"verdict": held[0], "since": format_timestamp(held[1])}
    return row


class SweepResults:
    """The result rows and queued markers over the incidents table."""

    def __init__(self, table: Table) -> None:
        self._table = table

    async def put(self, result: SweepResult) -> None:
        await self._table.upsert(_row(result))

    async def read(self, tenant_id: str) -> tuple[SweepResult | None, str | None]:
        """The tenant's result and its row's ETag (``None``: no row; a row that does not read has an
        ETag and no result)."""
        from shared.clients.table import etag_of

        row = await self._table.get(RESULTS, tenant_id)
        return (None, None) if row is None else (result_from_row(row), etag_of(row) or "*")

    async def put_if_unchanged(self, result: SweepResult, etag: str | None) -> bool:
        """Write ``result`` only if the row is still as :meth:`read` saw it (``etag`` ``None``: only if
        there is still no row). ``False`` when it changed meanwhile."""
        if etag is None:
            return await self._table.insert(_row(result)) is not None
        return await self._table.replace(_row(result), etag) is not None

    async def get(self, tenant_id: str) -> SweepResult | None:
        row = await self._table.get(RESULTS, tenant_id)
        return None if row is None else result_from_row(row)

    async def forget(self, tenant_id: str) -> None:
        """A tenant no longer watched: its result and marker go (the digest stops listing it)."""
        await self._table.delete(RESULTS, tenant_id)
        await self._table.delete(QUEUED, tenant_id)

    async def board(self) -> Board:
        results: dict[str, SweepResult] = {}
        for row in await self._table.query("PartitionKey eq @p", {"p": RESULTS}):
            found = result_from_row(row)
            if found is not None:
                results[found.tenant_id] = found
        queued: dict[str, tuple[str, datetime]] = {}
        held: dict[str, tuple[str, datetime]] = {}
        for row in await self._table.query("PartitionKey eq @p", {"p": QUEUED}):
            sweep, at = row.get("sweep_id"), parse_timestamp(row.get("at"))
            if isinstance(row.get("RowKey"), str) and isinstance(sweep, str) and at is not None:
                queued[row["RowKey"]] = (sweep, at)
                verdict, since = row.get("verdict"), parse_timestamp(row.get("since"))
                if verdict in VERDICTS and since is not None:
                    held[row["RowKey"]] = (str(verdict), since)
        return Board(results, queued, held)

    async def mark_queued(
        self,
        tenant_ids: Iterable[str],
        sweep_id: str,
        at: datetime,
        held: Mapping[str, tuple[str, datetime]] | None = None,
    ) -> None:
        """Record that a message for ``sweep_id`` was sent for each tenant (100 markers a request:
        one partition, entity group transactions), with the tenant's (verdict, since) from ``held``
        (:meth:`Board.holding`) when it has one."""
        stamp = format_timestamp(at)
        held = held or {}
        await self._table.upsert_all([_marker(t, sweep_id, stamp, held.get(t)) for t in tenant_ids])

    async def forget_all(self, tenant_ids: Sequence[str]) -> None:
        for tenant_id in tenant_ids:
            await self.forget(tenant_id)
