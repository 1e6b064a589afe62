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
