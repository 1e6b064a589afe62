"""Issue 19: the worker killed at every durable step of a whole incident, nothing lost.

A deletion with auto-restore on goes through detection, the restore, the ``restored`` notice on
e-mail and Webex, verification and the ``resolved`` notice, in a worker process the harness kills
at the k-th durable call (tests/crash/harness.py) and replaces, for every k. Each run must end as
the crash-free run does (or in the restore's documented fallback), with one incident, every owed
notice delivered, duplicates only in the documented window, no poison message and no claim or lease
left held (tests/crash/matrix.py). ``CRASH_MATRIX=full`` runs every point on every path both ways
(``python -m tests.crash.report`` prints that table for docs/reliability.md).
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.crash.harness import PATHS, Rig
from tests.crash.matrix import FULL, SUITE, run_matrix

pytestmark = pytest.mark.integration
FULL_MATRIX = os.environ.get("CRASH_MATRIX") == "full"


@pytest.fixture(scope="module")
async def rig(services_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Rig]:
    from simulator.client import SimulatorControl

    sim = SimulatorControl(services_env["SIMULATOR_URL"], verify=services_env["SSL_CERT_FILE"])
    rig = await Rig(sim, services_env, tmp_path_factory.mktemp("crash")).start()
    try:
        yield rig
    finally:
        await rig.stop()
        await sim.aclose()


async def test_every_step_of_the_event_grid_path_converges(rig: Rig) -> None:
    started = time.monotonic()
    rows, bases = await run_matrix(rig, ("eventgrid",), FULL if FULL_MATRIX else SUITE)
    failures = [f for row in rows for f in row.failures]
    assert not failures, "\n".join(failures)
    base = bases["eventgrid"]
    assert base.storage_calls >= 10 and base.http_calls >= 5, (
        "the whole incident ran (restore, two notices, two channels)"
    )
    runs = {row.what: row.runs for row in rows}
    assert runs["storage call, killed before"] == base.storage_calls, runs
    assert runs["http call, killed after"] == base.http_calls, runs
    assert runs["ack lost"] == base.invocations, runs
    assert sum(row.duplicates for row in rows) > 0, "the documented window was reached (a channel acted, not recorded)"
    assert any(row.fallbacks for row in rows), "a restore claimed and never recorded took its documented fallback"
    print(f"{sum(row.runs for row in rows)} runs in {time.monotonic() - started:.1f} s")


@pytest.mark.skipif(not FULL_MATRIX, reason="every path, both modes: CRASH_MATRIX=full (minutes)")
@pytest.mark.parametrize("path", [p for p in PATHS if p != "eventgrid"])
async def test_every_step_of_every_path_converges(rig: Rig, path: str) -> None:
    rows, _ = await run_matrix(rig, (path,), FULL)
    failures: list[Any] = [f for row in rows for f in row.failures]
    assert not failures, "\n".join(failures)


async def test_a_tick_killed_twice_before_its_first_notice_still_tells_the_admins(rig: Rig) -> None:
    """The timer path, killed twice at the write just before the first notice leaves (the channels'
    claim): by the third try the tick's audit poll no longer reads a record that old, so only the
    verification can still send the opening notice (it did not, before issue 19's fix)."""
    import re

    from tests.crash.harness import CHANNELS, STORAGE_DURABLE, STORAGE_WRITES, CrashPoint
    from tests.crash.matrix import problems

    base = await rig.run("timer")
    sends = [e for path in CHANNELS.values() for e in await rig.sim.requests(path=path, method="POST")]
    first_notice = min(e["answered_at"] for e in sends)
    durable = re.compile(STORAGE_DURABLE)
    k = sum(
        1
        for e in rig.requests
        if e["method"] in STORAGE_WRITES.split("|") and durable.search(e["path"]) and e["answered_at"] < first_notice
    )
    plan = (CrashPoint("storage", k, "before"), CrashPoint("storage", 0, "before", again=True))
    result = await rig.run("timer", plan)
    assert len(result.kills) == 2, result.kills
    assert not problems(result, base), problems(result, base)
