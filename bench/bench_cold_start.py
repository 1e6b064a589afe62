"""Cold start: what ``import function_app`` costs over the platform's own import of ``azure.functions``.

``python bench/bench_cold_start.py [runs]``. Each figure is a fresh interpreter (subprocess), the
median of ``runs``: a bare interpreter importing ``azure.functions`` (what the Python worker loads
anyway), the app (``import function_app``: every trigger registered), and — for comparison — the app
with the heavy SDKs imported eagerly at start-up (msgraph-sdk, azure-identity, azure-monitor-query,
the storage SDKs, httpx, jinja2), as a naive app would. The figure that matters is app − bare
(goal ≤ 100 ms). Wall time and the children's CPU time are both printed: on a shared machine the CPU
figure is the steadier one. Ends with one JSON line.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = (
    "msgraph", "azure.identity.aio", "azure.monitor.query.aio", "azure.data.tables.aio",
    "azure.storage.queue.aio", "httpx", "jinja2", "shared.clients.graph", "shared.notify.render",
)  # fmt: skip
PROGRAMS = {
    "bare": "import azure.functions",
    "app": "import function_app",
    "eager": "import function_app\n" + "\n".join(f"import {m}" for m in HEAVY),
}


def once(code: str) -> tuple[float, float]:
    """Wall and CPU seconds of one fresh interpreter running ``code``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, check=True, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 9
    for code in PROGRAMS.values():  # warm the OS page cache and the .pyc files first
        once(code)
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in PROGRAMS}
    for _ in range(runs):
        for name, code in PROGRAMS.items():  # interleaved, so load changes hit all three alike
            samples[name].append(once(code))
    figures: dict[str, float] = {}
    for name, values in samples.items():
        figures[f"{name}_wall_ms"] = round(statistics.median(w for w, _ in values) * 1000, 1)
        figures[f"{name}_cpu_ms"] = round(statistics.median(c for _, c in values) * 1000, 1)
    app_wall = figures["app_wall_ms"] - figures["bare_wall_ms"]
    app_cpu = figures["app_cpu_ms"] - figures["bare_cpu_ms"]
    eager_wall = figures["eager_wall_ms"] - figures["bare_wall_ms"]
    eager_cpu = figures["eager_cpu_ms"] - figures["bare_cpu_ms"]
    for label, name in (("bare interpreter + azure.functions", "bare"), ("import function_app", "app")):
        print(f"{label:<35}: {figures[name + '_wall_ms']:7.1f} ms wall, {figures[name + '_cpu_ms']:7.1f} ms CPU")
    print(f"  app over bare (lazy imports)     : {app_wall:7.1f} ms wall, {app_cpu:7.1f} ms CPU   (goal <= 100 ms)")
    print(f"  app over bare (eager SDK imports): {eager_wall:7.1f} ms wall, {eager_cpu:7.1f} ms CPU   (for comparison)")
    print(f"  lazy/eager ratio                 : {app_cpu / eager_cpu:.2f}  (median of {runs} runs)")
    print(json.dumps({
        "bench": "cold_start", "runs": runs, **figures,
        "app_over_bare_wall_ms": round(app_wall, 1), "app_over_bare_cpu_ms": round(app_cpu, 1),
        "eager_over_bare_wall_ms": round(eager_wall, 1), "eager_over_bare_cpu_ms": round(eager_cpu, 1),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
