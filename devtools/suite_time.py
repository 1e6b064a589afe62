"""Where the suite's time goes: wall time, the sum of every test's durations, and the files that take most.

``python -m devtools.suite_time [PYTEST ARGS...]`` runs ``pytest -n 2 --dist worksteal --durations=0``
(as ``make pytest`` does, bytecode cached) and prints the wall time, the sum of the per-test
durations (setup + call + teardown: on a machine other work also loads, a steadier figure to compare
than the wall time) and the slowest files and tests. ``--from FILE`` reads a saved pytest output instead.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

_LINE = re.compile(r"^\s*(\d+(?:\.\d+)?)s (setup|call|teardown)\s+(\S+)")
_WALL = re.compile(r" in (\d+(?:\.\d+)?)s")


def _most(seconds: dict[str, float], top: int) -> list[tuple[str, float]]:
    return sorted(seconds.items(), key=lambda item: -item[1])[:top]


def summarize(output: str, top: int = 15) -> str:
    """The figures of one pytest run's output (with ``--durations=0``)."""
    phases: defaultdict[str, float] = defaultdict(float)
    files: defaultdict[str, float] = defaultdict(float)
    tests: defaultdict[str, float] = defaultdict(float)
    for line in output.splitlines():
        m = _LINE.match(line)
        if m:
            seconds, phase, node = float(m.group(1)), m.group(2), m.group(3)
            phases[phase] += seconds
            files[node.split("::")[0]] += seconds
            tests[node] += seconds
    walls = _WALL.findall(output)
    lines = [
        f"pytest wall: {walls[-1] if walls else '?'} s",
        f"sum of durations: {sum(phases.values()):.1f} s "
        + " ".join(f"({p} {s:.1f})" for p, s in sorted(phases.items())),
        f"slowest {top} files:",
        *(f"  {s:7.1f}  {name}" for name, s in _most(files, top)),
        f"slowest {top} tests:",
        *(f"  {s:7.1f}  {name}" for name, s in _most(tests, top)),
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--from"] and len(argv) == 2:
        print(summarize(Path(argv[1]).read_text(encoding="utf-8")))
        return 0
    command = [sys.executable, "-m", "pytest", "-q", "-n", "2", "--dist", "worksteal", "--durations=0", *argv]
    started = time.monotonic()
    proc = subprocess.run(  # noqa: S603 - our own interpreter running pytest
        command, env={**os.environ, "PYTHONDONTWRITEBYTECODE": ""}, capture_output=True, text=True, check=False
    )
    print(f"command wall: {time.monotonic() - started:.1f} s (exit {proc.returncode})")
    print(summarize(proc.stdout))
    return proc.returncode


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
