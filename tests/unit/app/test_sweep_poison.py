"""The watcher of ``webex-tenant-sweep-poison`` without services (shared/app/sweep_poison.py): a
poisoned sweep becomes the tenant's ``unreachable`` result with the configured attempt count and the
last error its sweep recorded; a hostile body, a tenant no longer watched and a message a later sweep
superseded are dropped — never raised, so nothing loops through a poison queue of its own."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.app.sweep_poison import SweepPoisonDeps, handle_poisoned_sweep
from shared.clients.sweep_queue import SweepMessage
from shared.clients.sweep_results import SweepResult, SweepResults
from shared.clients.table import Table
from shared.clients.tenants import PARTITION, TenantStore
from shared.core.clock import clock
from shared.core.tenant import make_tenant
from tests.fakes.memtable import MemTable

SWEEP = "2026-11-30T01:00:00.000000Z"
EARLIER = "2026-11-30T00:59:00.000000Z"
LATER = "2026-11-30T01:01:00.000000Z"


async def _deps() -> tuple[SweepPoisonDeps, Table]:
    table = Table(MemTable("t" + uuid.uuid4().hex[:8]))  # type: ignore[arg-type]
    await table.ensure()
    return SweepPoisonDeps(TenantStore(table), SweepResults(table)), table


async def _watched(deps: SweepPoisonDeps, name: str = "Contoso", *, enabled: bool = True) -> str:
    tid = str(uuid.uuid4())
    assert await deps.tenants.add(make_tenant(tid, display_name=name, enabled=enabled))
    return tid


async def test_a_poisoned_sweep_is_the_tenants_unreachable_result_with_the_configured_count() -> None:
    deps, _ = await _deps()
    tid = await _watched(deps, "<b>Evil</b> Corp")
    # What the sweep wrote while the queue retried: the failure, under the last *finished* sweep's id.
    await deps.results.put(SweepResult(tid, EARLIER, "unreachable", ("token endpoint answered 503",), "x"))

    before = clock.now()
    out = await handle_poisoned_sweep(deps, SweepMessage(tid, SWEEP).to_json().encode())
    assert out.outcome == "recorded" and out.tenant_id == tid
    row = await deps.results.get(tid)
    assert row is not None and row.verdict == "unreachable" and row.troubled
    assert row.sweep_id == SWEEP, "as new as the fan-out's queued marker: the next tick sends a new message"
    assert "failed 5 times" in row.reasons[0] and "webex-tenant-sweep-poison" in row.reasons[0]
    assert "failed 1 times" not in " ".join(row.reasons), "never the poison copy's own DequeueCount"
    assert row.reasons[1] == "last error: token endpoint answered 503"
    assert row.reasons == out.reasons, "within the row's bounds: the digest shows them whole"
    assert row.display_name == "<b>Evil</b> Corp", "the name is data, kept as the tenants row says"
    assert row.finished_at is not None and before <= row.finished_at <= clock.now()


async def test_without_a_recorded_error_the_reason_says_only_what_is_known() -> None:
    deps, _ = await _deps()
    tid = await _watched(deps)
    await deps.results.put(SweepResult(tid, EARLIER, "healthy"))  # the last finished sweep was fine
    out = await handle_poisoned_sweep(deps, SweepMessage(tid, SWEEP).to_json())
    assert out.outcome == "recorded" and len(out.reasons) == 1
    assert (await deps.results.get(tid)).verdict == "unreachable"  # type: ignore[union-attr]


async def test_a_later_finished_sweep_supersedes_the_poisoned_one() -> None:
    deps, _ = await _deps()
    tid = await _watched(deps)
    await deps.results.put(SweepResult(tid, LATER, "healthy"))  # the next tick's sweep reached the tenant
    out = await handle_poisoned_sweep(deps, SweepMessage(tid, SWEEP).to_json())
    assert out.outcome == "superseded"
    row = await deps.results.get(tid)
    assert row is not None and (row.verdict, row.sweep_id) == ("healthy", LATER)


class _RacingResults(SweepResults):
    """Result rows where a sweep of the tenant finishes right after each read (``races`` times)."""

    def __init__(self, table: Table, finished: list[SweepResult]) -> None:
        super().__init__(table)
        self.finished = finished

    async def read(self, tenant_id: str) -> tuple[SweepResult | None, str | None]:
        seen = await super().read(tenant_id)
        if self.finished:
            await self.put(self.finished.pop(0))  # the sweep's plain upsert, between read and write
        return seen


async def test_a_sweep_that_finishes_between_the_read_and_the_write_is_not_overwritten() -> None:
    deps, table = await _deps()
    tid = await _watched(deps)
    await deps.results.put(SweepResult(tid, EARLIER, "unreachable", ("transient: 503",)))
    racing = _RacingResults(table, [SweepResult(tid, LATER, "healthy")])
    out = await handle_poisoned_sweep(SweepPoisonDeps(deps.tenants, racing), SweepMessage(tid, SWEEP).to_json())
    assert out.outcome == "superseded"
    row = await deps.results.get(tid)
    assert row is not None and (row.verdict, row.sweep_id) == ("healthy", LATER), "the later sweep's result stands"


async def test_a_row_that_keeps_changing_raises_for_the_host_to_retry() -> None:
    from shared.app.sweep_poison import WRITE_ATTEMPTS
    from shared.core.errors import TransientError

    deps, table = await _deps()
    tid = await _watched(deps)
    busy = [SweepResult(tid, EARLIER, "unreachable", (f"transient: {n}",)) for n in range(WRITE_ATTEMPTS)]
    racing = _RacingResults(table, busy)
    with pytest.raises(TransientError):
        await handle_poisoned_sweep(SweepPoisonDeps(deps.tenants, racing), SweepMessage(tid, SWEEP).to_json())
    assert (await deps.results.get(tid)).sweep_id == EARLIER  # type: ignore[union-attr]


@pytest.mark.parametrize("enabled", [False, None])
async def test_a_tenant_removed_or_disabled_meanwhile_is_dropped_and_forgotten(enabled: bool | None) -> None:
    deps, _ = await _deps()
    if enabled is None:
        tid = str(uuid.uuid4())  # removed: no row
    else:
        tid = await _watched(deps, enabled=enabled)
    await deps.results.put(SweepResult(tid, EARLIER, "unreachable", ("transient: 503",)))
    await deps.results.mark_queued([tid], SWEEP, clock.now())
    out = await handle_poisoned_sweep(deps, SweepMessage(tid, SWEEP).to_json())
    assert out.outcome == "dropped"
    board = await deps.results.board()
    assert tid not in board.results and tid not in board.queued, "the digest stops listing it"


async def test_an_unreadable_tenants_row_is_dropped_not_raised() -> None:
    deps, table = await _deps()
    tid = str(uuid.uuid4())
    await table.upsert({"PartitionKey": PARTITION, "RowKey": tid, "contacts": "[[[", "enabled": "maybe"})
    out = await handle_poisoned_sweep(deps, SweepMessage(tid, SWEEP).to_json())
    assert out.outcome == "dropped"
    assert await deps.results.get(tid) is None


def _hostile() -> list[Any]:
    good = {"v": 1, "tenant_id": "0b9d5a52-3f0e-4c1e-9a7d-2f6b8c1d4e5a", "sweep_id": SWEEP}  # fixed: xdist ids
    return [
        b"",
        b"{",
        json.dumps(good)[:-7].encode(),  # truncated
        b"\xff\xfe\x00{}",  # not UTF-8
        "[" * 100_000,  # nested past the recursion limit
        json.dumps({**good, "pad": "x" * 5000}),  # oversized
        b"null",
        b"[1, 2]",
        json.dumps({**good, "tenant_id": "../../tenants/'; drop"}),
        json.dumps({**good, "tenant_id": "<script>alert(1)</script>"}),
        json.dumps({**good, "sweep_id": "yesterday"}),
        json.dumps({**good, "v": 2}),
        json.dumps({**good, "v": True}),
        json.dumps({**good, "tenant_id": None}),
        "\u202e" + json.dumps(good),  # a control character before the JSON
    ]


@pytest.mark.parametrize("body", _hostile(), ids=range(len(_hostile())))
async def test_hostile_bodies_are_dropped_with_a_log_line_and_write_nothing(
    body: Any, caplog: pytest.LogCaptureFixture
) -> None:
    deps, table = await _deps()
    out = await handle_poisoned_sweep(deps, body)
    assert out.outcome == "unreadable" and out.tenant_id is None
    assert await table.query("PartitionKey ne @p", {"p": ""}) == []
    assert any("unreadable" in r.getMessage() and r.levelname == "ERROR" for r in caplog.records)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
_MESSAGES = st.fixed_dictionaries(
    {},
    optional={"v": _JSON, "tenant_id": st.uuids().map(str) | _JSON, "sweep_id": st.just(SWEEP) | _JSON},
)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(st.binary(max_size=300), st.text(max_size=200), _MESSAGES.map(json.dumps)))
def test_any_body_is_dropped_or_recorded_never_raised(body: bytes | str) -> None:
    """Whatever the poison queue holds, the watcher answers (a raise would loop it through a poison
    queue of its own); only a well-formed message for a watched tenant writes a row."""

    async def run() -> tuple[str, list[Any]]:
        deps, table = await _deps()
        out = await handle_poisoned_sweep(deps, body)
        return out.outcome, await table.query("PartitionKey ne @p", {"p": ""})

    outcome, rows = asyncio.run(run())
    assert outcome in {"unreadable", "dropped"}, "no tenant is watched here"
    assert rows == []
