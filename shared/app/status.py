"""The status page's data: open incidents, the last 30 days, and the latest health-check table.

Built from what the app already stores (incident rows, the health timer's ``health-latest`` row) by
a use case that takes :class:`StatusDeps` — nothing else. Event text (who deleted the app, the audit
activity, verdict evidence) passes through as data; the page template escapes it
(shared/app/templates/status.html.j2, autoescape) and JSON encodes it.

In provider mode the timer sweeps no tenant itself — it fans out — so neither the deployment's own
incidents nor its health table say anything about the customer tenants. The provider's page
(:func:`provider_snapshot`, shared/app/templates/status_provider.html.j2) is one row per tenant of
the tenants table, from each tenant's last sweep result: its verdict, since when, the reasons and
the last sweep, worst first. Tenant display names are data, like event text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from shared.core.clock import format_timestamp

if TYPE_CHECKING:
    from shared.checks.report import HealthReport
    from shared.clients.health_rows import HealthSnapshot
    from shared.clients.sweep_results import Board
    from shared.clients.tenants import TenantListing
    from shared.core.catalogue import Catalogue
    from shared.incidents.store import Incident

WINDOW = timedelta(days=30)


class IncidentLister(Protocol):
    async def list_incidents(self, tenant_id: str) -> list[Incident]: ...


class HealthReader(Protocol):
    async def latest(self) -> HealthSnapshot | None: ...


class HealthWriter(Protocol):
    async def save(self, rows: Sequence[dict[str, object]], at: datetime) -> None: ...


@dataclass(frozen=True, slots=True)
class StatusDeps:
    incidents: IncidentLister
    health: HealthReader
    catalogue: Catalogue
    tenant_id: str


def _ts(value: datetime | None) -> str | None:
    return None if value is None else format_timestamp(value)


def _notified_at(inc: Incident) -> datetime | None:
    from shared.core.clock import parse_timestamp

    sent = [parse_timestamp(d.at) for key, d in inc.deliveries.items()
            if d.status == "sent" and key.split("/", 1)[-1] in ("opened", "restored")]  # fmt: skip
    known = [t for t in sent if t is not None]
    return min(known) if known else None


def incident_timeline(inc: Incident, catalogue: Catalogue) -> dict[str, Any]:
    """One incident as the page and the JSON show it (event text left as data, escaped by the view)."""
    app = catalogue.by_key(inc.app_key)
    ttr = inc.time_to_recover
    return {
        "incident_id": inc.incident_id,
        "app": inc.app_key,
        "app_name": app.display_name if app is not None else inc.app_key,
        "kind": inc.kind,
        "state": inc.state,
        "open": inc.is_open,
        "event_time": _ts(inc.event_time),
        "detected_at": _ts(inc.opened_at),
        "notified_at": _ts(_notified_at(inc)),
        "checks": inc.verify_attempts,
        "last_verdict": inc.last_verdict,
        "check_now_at": _ts(inc.check_now_at),
        "acknowledged_at": _ts(inc.acknowledged_at),
        "escalated_at": _ts(inc.escalated_at),
        "resolved_at": _ts(inc.resolved_at),
        "time_to_recover_seconds": None if ttr is None else round(ttr.total_seconds(), 1),
        "initiator": inc.initiator_label,
        "activity": inc.activity,
        "history": [{"at": at, "event": what} for at, what in inc.history],
    }


async def status_snapshot(deps: StatusDeps, *, now: datetime) -> dict[str, Any]:
    """Open incidents, incidents of the last 30 days (newest first) and the latest health table."""
    rows = await deps.incidents.list_incidents(deps.tenant_id)
    since = now - WINDOW
    open_ = sorted((i for i in rows if i.is_open), key=lambda i: i.opened_at, reverse=True)
    recent = sorted((i for i in rows if not i.is_open and (i.resolved_at or i.opened_at) >= since),
                    key=lambda i: i.opened_at, reverse=True)  # fmt: skip
    health = await deps.health.latest()
    return {
        "generated_at": format_timestamp(now),
        "open": [incident_timeline(i, deps.catalogue) for i in open_],
        "recent": [incident_timeline(i, deps.catalogue) for i in recent],
        "health": None if health is None else {"at": format_timestamp(health.at), "rows": list(health.rows)},
    }


def health_rows(report: HealthReport) -> list[dict[str, object]]:
    """The health timer's report as the rows the status page shows."""
    return [{"name": r.name, "verdict": r.verdict, "ok": "yes" if r.ok else "no", "evidence": r.evidence,
             "app": r.app_key or ""} for r in report.results]  # fmt: skip


async def record_health(writer: HealthWriter, report: HealthReport, *, now: datetime) -> None:
    """Keep the latest health table for the status page (called by the health timer)."""
    await writer.save(health_rows(report), now)


# --- provider mode -------------------------------------------------------------------------------

PAGE_ROWS = 500
"""Tenants the HTML page lists (worst first; the rest are counted, the JSON has them all): 10,000 rows
would make a page of megabytes that nobody reads past the troubled ones."""
RANK = ("unhealthy", "unreachable", "throttled", "pending", "healthy", "disabled")
"""Worst first: sync known broken, then not watched (no access), held back by Graph, not swept yet,
healthy; disabled tenants (not watched on purpose) last."""


class TenantLister(Protocol):
    async def list(self) -> TenantListing: ...


class BoardReader(Protocol):
    async def board(self) -> Board: ...


@dataclass(frozen=True, slots=True)
class ProviderStatusDeps:
    """What the provider's status page reads: the tenants table and the sweep result rows."""

    tenants: TenantLister
    results: BoardReader


def _tenant_row(
    tenant_id: str, name: str, verdict: str, reasons: tuple[str, ...] = (), **times: datetime | None
) -> dict[str, Any]:
    return {"tenant_id": tenant_id, "display_name": name, "verdict": verdict, "reasons": list(reasons),
            **{key: _ts(value) for key, value in times.items()}}  # fmt: skip


def tenant_rows(listing: TenantListing, board: Board) -> list[dict[str, Any]]:
    """One row per tenants row (and per row that does not read), worst verdict first, then the
    longest in it, then by name."""
    rows = []
    for t in listing.tenants:
        r = board.results.get(t.tenant_id)
        if not t.enabled:
            rows.append(_tenant_row(t.tenant_id, t.display_name, "disabled", since=None, last_sweep=None,
                                    not_before=None))  # fmt: skip
        elif r is None:
            rows.append(_tenant_row(t.tenant_id, t.display_name, "pending", ("not swept yet",), since=None,
                                    last_sweep=None, not_before=None))  # fmt: skip
        else:
            rows.append(_tenant_row(t.tenant_id, t.display_name or r.display_name, r.verdict, r.reasons,
                                    since=board.since(t.tenant_id), last_sweep=r.finished_at,
                                    not_before=r.not_before))  # fmt: skip
    for key, why in listing.bad_rows:
        rows.append(_tenant_row(key, "", "unreachable", (f"tenants row unreadable: {why}",), since=None,
                                last_sweep=None, not_before=None))  # fmt: skip

    def order(row: dict[str, Any]) -> tuple[int, bool, str, str, str]:
        since = row["since"]
        return (RANK.index(row["verdict"]), since is None, since or "", row["display_name"].casefold(),
                row["tenant_id"])  # fmt: skip

    return sorted(rows, key=order)


async def provider_snapshot(deps: ProviderStatusDeps, *, now: datetime) -> dict[str, Any]:
    """The provider's page: every tenant's last sweep, worst first, and how many are in each verdict."""
    listing = await deps.tenants.list()
    board = await deps.results.board()
    rows = tenant_rows(listing, board)
    counts = {verdict: sum(1 for r in rows if r["verdict"] == verdict) for verdict in RANK}
    return {"generated_at": format_timestamp(now), "mode": "provider", "counts": counts, "tenants": rows}
