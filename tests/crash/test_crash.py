"""Issue 19: the worker killed at every durable step of a whole incident, nothing lost.

A deletion with auto-restore on goes through detection, the restore, the ``restored`` notice on all
four channels (e-mail, Webex, Teams, the signed webhook), verification and the ``resolved`` notice,
in a worker process the harness kills at a durable call (tests/crash/harness.py) and replaces. Each
run must end as the crash-free run does (or in the restore's documented fallback), with one
incident, every owed notice delivered on every channel, duplicates only in the documented window, a
resent webhook notice with the same delivery id and every webhook signature valid, no poison
message and no claim or lease left held (tests/crash/matrix.py, ``problems``).

What runs here: **every path** (Event Grid, alert, timer; auto-restore on) with the suite's
deterministic sample (``tests.crash.matrix.suite_plans``): on each path a crash-free run, then every
kind of crash point at least once — a storage call killed before and one killed after (steps next to
an outside effect: a claim, a restore, a notice, its record), HTTP calls killed before and after
(the five targets — restore, e-mail, Webex, Teams, webhook — dealt over the three paths so that
together they kill every target both ways and every notice of each channel), a lost ack, the
channels' claim killed twice in a row, and a crash during the recovery run: 28 runs in all, spread
over ``CRASH_LANES`` (default 2) lanes. What does not: every *other* step (every storage call both
ways, every HTTP call both ways on every path, every ack, every point twice in a row, every step
then again in recovery: 426 runs) — ``CRASH_MATRIX=full`` runs that full matrix here, and
``python -m tests.crash.report`` prints its table for docs/reliability.md ("Crash at every step").
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator

import pytest

from tests.crash.harness import CHANNELS, PATHS, CrashPoint, Lanes, Rig, RunResult, Zygote
from tests.crash.matrix import FULL, SUITE, Row, first_notice_claim, problems, run_matrix

KINDS = (
    "storage call, killed before",
    "storage call, killed after",
    "http call, killed before",
    "http call, killed after",
    "ack lost",
    "and again when the fresh worker makes that call",
    "then again in the recovery run",
)
"""Every kind of crash point, as the rows of the table name them; the suite runs each on every path."""

pytestmark = pytest.mark.integration
FULL_MATRIX = os.environ.get("CRASH_MATRIX") == "full"


LANES = int(os.environ.get("CRASH_LANES", "2"))
"""Rigs that run plans at once (each its own Azurite and simulator, one zygote): the runs mostly wait
on each other's round trips, so two lanes on two cores take little more than half the time."""


@pytest.fixture(scope="module")
async def lanes(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[list[Rig]]:
    workdir = tmp_path_factory.mktemp("crash")
    zygote = await Zygote(dict(os.environ), workdir).spawn()  # imports (seconds) while the services start
    try:
        services_env: dict[str, str] = request.getfixturevalue("services_env")
    except BaseException:
        await zygote.stop()
        raise
    async with Lanes(services_env, workdir, LANES, zygote) as rigs:
        yield rigs


@pytest.fixture(scope="module")
async def matrix(lanes: list[Rig]) -> tuple[list[Row], dict[str, RunResult]]:
    """The matrix, run once for the tests below (the suite's sample, or ``CRASH_MATRIX=full``)."""
    started = time.monotonic()
    rows, bases = await run_matrix(lanes, PATHS, FULL if FULL_MATRIX else SUITE)
    print(f"{sum(row.runs for row in rows)} runs on {len(lanes)} lanes in {time.monotonic() - started:.1f} s")
    return rows, bases


async def test_every_step_of_every_path_converges(matrix: tuple[list[Row], dict[str, RunResult]]) -> None:
    rows, bases = matrix
    failures = [f"{row.path}, {f}" for row in rows for f in row.failures]
    assert not failures, "\n".join(failures)
    for path, base in bases.items():
        assert base.storage_calls >= 10 and base.http_targets.get("restore") == 1, (path, base.http_targets)
        owed = {(channel, notice) for channel in CHANNELS for notice in ("restored", "resolved")}
        assert set(base.notices) == owed, f"{path}: the whole incident ran on all four channels: {base.notices}"
    for path in PATHS:
        missing = [kind for kind in KINDS if not any(row.path == path and kind in row.what for row in rows)]
        assert not missing, f"{path}: no run of the kind(s) {missing}"
    aimed = {(p.target, p.k, p.when) for row in rows for plan in row.plans for p in plan if p.where == "http"}
    for target, count in bases["eventgrid"].http_targets.items():
        for when in ("before", "after"):
            assert any(t == target and w == when for t, _, w in aimed), f"{target} never killed {when} its call"
        assert {k for t, k, _ in aimed if t == target} == set(range(1, count + 1)), f"{target}: {sorted(aimed)}"
    assert sum(row.duplicates for row in rows) > 0, "the documented window was reached (a channel acted, not recorded)"
    assert sum(row.webhook_resent for row in rows) > 0, "a webhook notice was resent (with the same delivery id)"
    assert any(row.fallbacks for row in rows), "a restore claimed and never recorded took its documented fallback"


async def test_a_tick_killed_twice_before_its_first_notice_still_tells_the_admins(
    matrix: tuple[list[Row], dict[str, RunResult]],
) -> None:
    """The timer path, killed twice at the write just before the first notice leaves (the channels'
    claim): by the third try the tick's audit poll no longer reads a record that old, so only the
    verification can still send the opening notice (it did not, before issue 19's fix). The matrix
    runs this plan on every path (:func:`tests.crash.matrix.suite_plans`)."""
    rows, bases = matrix
    claim = CrashPoint("storage", first_notice_claim(bases["timer"]), "before")
    plan = (claim, CrashPoint("storage", 0, "before", again=True))
    (result,) = [r for row in rows if row.path == "timer" for r in row.results if r.plan == plan]
    assert len(result.kills) == 2, result.kills
    assert not problems(result, bases["timer"]), problems(result, bases["timer"])
