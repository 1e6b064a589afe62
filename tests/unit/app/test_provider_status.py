"""The provider's status page without services (shared/app/status.py ``provider_snapshot``,
shared/clients/sweep_results.py ``Board.since``): one row per tenants row, worst verdict first and the
longest in it first; "since" follows the verdict across fan-outs (kept while it holds, restarted when
it changes) and never trusts a hand-edited marker; tenant names stay data in the page."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.app.pages import render_page
from shared.app.status import ProviderStatusDeps, provider_snapshot, tenant_rows
from shared.clients.sweep_results import QUEUED, Board, SweepResult, SweepResults
from shared.clients.table import Table
from shared.clients.tenants import PARTITION, TenantListing, TenantStore
from shared.core.clock import format_timestamp
from shared.core.tenant import make_tenant
from tests.fakes.memtable import MemTable

T0 = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(2)>{{ 7*7 }}'


def _id(n: int) -> str:
    return str(uuid.UUID(int=n))


def _at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _result(n: int, verdict: str, minutes: int, *reasons: str) -> SweepResult:
    return SweepResult(_id(n), format_timestamp(_at(minutes)), verdict, reasons, "", _at(minutes))


async def _table() -> Table:
    table = Table(MemTable("t" + uuid.uuid4().hex[:8]))  # type: ignore[arg-type]
    await table.ensure()
    return table


def test_rows_are_worst_first_then_longest_in_trouble_then_by_name() -> None:
    names = {1: "b", 2: "a", 3: "c", 4: "d", 5: "e", 6: "f", 7: "g"}
    tenants = [make_tenant(_id(n), display_name=name, enabled=n != 7) for n, name in names.items()]
    results = {
        _id(1): _result(1, "unreachable", 5, "token refused"),
        _id(2): _result(2, "unreachable", 1, "token refused"),  # in it longer: first
        _id(3): _result(3, "healthy", 2),
        _id(4): _result(4, "unhealthy", 9, "graph.service_principal.integration: missing"),
        _id(5): _result(5, "throttled", 3, "throttled by Graph for 600 s"),
        _id(7): _result(7, "healthy", 1),  # disabled since: its stale result says nothing
    }
    listing = TenantListing(tuple(tenants), (("not-a-guid", "tenant_id: not a GUID"),))
    rows = tenant_rows(listing, Board(results, {}))
    assert [(r["display_name"], r["verdict"]) for r in rows] == [
        ("d", "unhealthy"),
        ("a", "unreachable"),
        ("b", "unreachable"),
        ("", "unreachable"),  # the tenants row that does not read, no "since" known: after those that have one
        ("e", "throttled"),
        ("f", "pending"),
        ("c", "healthy"),
        ("g", "disabled"),
    ]
    assert rows[3]["reasons"] == ["tenants row unreadable: tenant_id: not a GUID"]
    assert rows[5]["reasons"] == ["not swept yet"] and rows[5]["last_sweep"] is None
    assert rows[7]["last_sweep"] is None and rows[7]["since"] is None


def test_since_holds_while_the_verdict_does_and_restarts_when_it_changes() -> None:
    tid = _id(1)
    first = _result(1, "unreachable", 0, "token refused")
    board = Board({tid: first}, {})
    assert board.since(tid) == _at(0)  # the sweep that found it
    held = board.holding([tid, _id(2)])
    assert held == {tid: ("unreachable", _at(0))}, "a tenant without a result holds nothing"

    still = Board({tid: _result(1, "unreachable", 5, "token refused")}, {}, held)
    assert still.since(tid) == _at(0), "the marker carries the start forward"
    changed = Board({tid: _result(1, "healthy", 9)}, {}, still.holding([tid]))
    assert changed.since(tid) == _at(9), "the first sweep of the new verdict"
    assert Board({}, {}, held).since(tid) is None


async def test_the_marker_round_trips_since_and_a_hand_edited_one_is_ignored() -> None:
    table = await _table()
    results = SweepResults(table)
    a, b, c = _id(1), _id(2), _id(3)
    await results.put(_result(1, "unhealthy", 3))
    await results.put(_result(2, "healthy", 3))
    await results.put(_result(3, "healthy", 3))
    await results.mark_queued([a, b, c], "s", _at(4), {a: ("unhealthy", _at(1)), b: ("healthy", _at(2))})
    await table.upsert({"PartitionKey": QUEUED, "RowKey": c, "sweep_id": "s", "at": format_timestamp(_at(4)),
                        "verdict": "<b>fine</b>", "since": "yesterday"})  # fmt: skip
    board = await results.board()
    assert board.since(a) == _at(1) and board.since(b) == _at(2)
    assert c in board.queued and c not in board.held and board.since(c) == _at(3), "never trusted: the result's"


async def test_the_snapshot_and_the_page_keep_a_hostile_name_as_data() -> None:
    table = await _table()
    store, results = TenantStore(table), SweepResults(table)
    tid = _id(1)
    assert await store.add(make_tenant(tid, display_name=HOSTILE))
    await results.put(SweepResult(tid, "s", "unreachable", (HOSTILE,), HOSTILE, _at(1)))
    await table.upsert({"PartitionKey": PARTITION, "RowKey": "junk", "enabled": "yes"})
    snap = await provider_snapshot(ProviderStatusDeps(store, results), now=_at(2))
    assert [t["display_name"] for t in snap["tenants"]] == [HOSTILE, ""]
    assert snap["counts"]["unreachable"] == 2 and snap["generated_at"] == format_timestamp(_at(2))

    html = render_page("status_provider.html.j2", title="Tenants", s=snap, limit=500)
    assert "<script>" not in html and "<img" not in html and "49" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "2 of 2 tenants in trouble" in html


@pytest.mark.parametrize("tenants", [(), (make_tenant(_id(1), display_name="Only"),)], ids=["none", "one"])
def test_the_page_renders_with_no_tenant_or_no_result(tenants: tuple[Any, ...]) -> None:
    snap = {"generated_at": format_timestamp(T0), "mode": "provider",
            "counts": dict.fromkeys(("unhealthy", "unreachable", "throttled", "pending", "healthy", "disabled"), 0),
            "tenants": tenant_rows(TenantListing(tenants), Board({}, {}))}  # fmt: skip
    snap["counts"]["pending"] = len(tenants)
    html = render_page("status_provider.html.j2", title="Tenants", s=snap, limit=500)
    assert ("No tenant in the tenants table yet" in html) is (not tenants)
    assert "0 of" in html


def test_the_page_lists_the_worst_rows_and_counts_the_rest() -> None:
    tenants = tuple(make_tenant(_id(n), display_name=f"T{n:04d}") for n in range(1, 13))
    results = {_id(n): _result(n, "unhealthy" if n <= 3 else "healthy", 1) for n in range(1, 13)}
    rows = tenant_rows(TenantListing(tenants), Board(results, {}))
    snap = {"generated_at": format_timestamp(T0), "mode": "provider", "counts": {"unhealthy": 3, "unreachable": 0,
            "throttled": 0, "pending": 0, "healthy": 9, "disabled": 0}, "tenants": rows}  # fmt: skip
    html = render_page("status_provider.html.j2", title="Tenants", s=snap, limit=5)
    shown = [n for n in range(1, 13) if f"T{n:04d}" in html]
    assert shown == [1, 2, 3, 4, 5], "the troubled ones first, then the first healthy ones"
    assert "and 7 more" in html and "3 of 12 tenants in trouble" in html
