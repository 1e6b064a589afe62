"""Print the crash table of docs/reliability.md: path × crash point → outcome.

``python -m tests.crash.report`` starts Azurite and the simulator, runs every crash point of every
path both ways, twice in a row and during recovery (:data:`tests.crash.matrix.FULL`), and prints the
Markdown table, the points that did not converge (none is the goal) and how long it took.
``--paths eventgrid,alert`` and ``--suite`` (the suite's sample) narrow it; ``--lanes N`` runs N
plans at once (default ``CRASH_LANES`` or 2; each lane beyond the first starts its own Azurite and
simulator).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

from tests.crash.harness import PATHS, Lanes
from tests.crash.matrix import FULL, SUITE, Scope, run_matrix, table


async def report(env: dict[str, str], paths: tuple[str, ...], scope: Scope, lanes: int) -> int:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="crash-") as workdir:
        async with Lanes(env, Path(workdir), lanes) as rigs:
            rows, bases = await run_matrix(rigs, paths, scope, lambda line: print(line, file=sys.stderr, flush=True))
    print(table(rows, bases))
    runs = sum(row.runs for row in rows) + len(bases)
    cpu = os.times()
    print(
        f"\n{runs} runs (crash-free ones included) on {lanes} lanes in {time.monotonic() - started:.0f} s; "
        f"CPU {cpu.user + cpu.system + cpu.children_user + cpu.children_system:.0f} s (this process, Azurite, workers)"
    )
    return 1 if any(row.failures for row in rows) else 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.crash.report", description=__doc__)
    parser.add_argument("--paths", default=",".join(PATHS), help="comma-separated: eventgrid, alert, timer")
    parser.add_argument("--suite", action="store_true", help="the suite's scope instead of every point both ways")
    parser.add_argument("--lanes", type=int, default=int(os.environ.get("CRASH_LANES", "2")), help="plans at once")
    args = parser.parse_args(argv)
    paths = tuple(p for p in args.paths.split(",") if p)
    unknown = set(paths) - set(PATHS)
    if unknown:
        parser.error(f"unknown path(s): {', '.join(sorted(unknown))}")
    from devtools.services import services

    with services() as env:
        os.environ.update(env)
        return asyncio.run(report(env, paths, SUITE if args.suite else FULL, args.lanes))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
