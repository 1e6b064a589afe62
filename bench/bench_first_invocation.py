"""First invocations and ``check``: how long each blocks the worker's event loop, and ``check``'s time.

``python bench/bench_first_invocation.py [runs]`` starts Azurite and the simulator (or uses those of
``python -m devtools.services --``, as ``make bench`` runs it), then for each
trigger (Event Grid, alert HTTP, intake queue, verify queue, timer, poison queue) runs its first
invocation in a fresh interpreter (``devtools/first_invocation.py``: ``function_app`` imported,
msgraph-sdk not, asyncio debug mode) and prints the longest event-loop callback — wall and the
thread's CPU time — and the invocation's wall time (goal: no callback over 100 ms). Then it times
``python -m shared.cli check`` against the simulator, process start to exit (goal ≤ 1 s). Medians of
``runs``. ``FIRST_INVOCATION_PROFILE=1`` adds the top functions of each slow callback (cProfile).
Ends with one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TRIGGERS = ("eventgrid", "alert", "intake", "verify", "timer", "poison")


def child(args: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False)


async def fresh_scenario(env: dict[str, str]) -> Any:
    from shared.app.runtime import reset_services
    from shared.core.settings import reset_settings
    from simulator.client import SimulatorControl

    os.environ["INCIDENTS_TABLE"] = "bench" + uuid.uuid4().hex[:12]
    reset_settings()
    await reset_services()
    control = SimulatorControl(env["SIMULATOR_URL"], verify=env["SSL_CERT_FILE"])
    await control.reset()
    from azure.storage.queue.aio import QueueClient

    for name in ("webex-verify", "webex-intake"):
        async with QueueClient.from_connection_string(env["AzureWebJobsStorage"], name) as queue:
            try:
                await queue.clear_messages()
            except Exception:
                continue
    return control


async def one_trigger(trigger: str, env: dict[str, str], functions: dict[str, Any]) -> dict[str, Any]:
    from devtools.first_invocation import prepare_spec

    control = await fresh_scenario(env)
    spec = await prepare_spec(trigger, control, functions)
    await control.aclose()
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(spec, f)
    try:
        proc = child(["-m", "devtools.first_invocation", trigger, f.name])
    finally:
        os.unlink(f.name)
    if proc.returncode != 0:
        raise SystemExit(f"{trigger}: {proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def time_check() -> float:
    started = time.perf_counter()
    proc = child(["-m", "shared.cli", "check"])
    elapsed = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        raise SystemExit(f"check: exit {proc.returncode}: {proc.stderr[-2000:]}")
    return elapsed


async def run(runs: int, env: dict[str, str]) -> dict[str, Any]:
    import function_app

    functions = {f.get_function_name(): f for f in function_app.app.get_functions()}
    samples: dict[str, list[dict[str, Any]]] = {t: [] for t in TRIGGERS}
    for _ in range(runs):
        for trigger in TRIGGERS:
            samples[trigger].append(await one_trigger(trigger, env, functions))
    await fresh_scenario(env)
    checks = [await asyncio.to_thread(time_check) for _ in range(runs)]
    figures: dict[str, Any] = {}
    for trigger, results in samples.items():
        wall = statistics.median(r["max_callback_wall_ms"] for r in results)
        cpu = statistics.median(r["max_callback_cpu_ms"] for r in results)
        total = statistics.median(r["invocation_ms"] for r in results)
        print(f"{trigger:<10} longest callback {wall:7.1f} ms wall {cpu:7.1f} ms CPU   invocation {total:7.1f} ms"
              f"   ({results[-1]['outcome']}; goal: callbacks <= 100 ms)")  # fmt: skip
        for slow in results[-1]["slow"]:
            print(f"           slow: {slow['wall_ms']} ms wall {slow['cpu_ms']} ms CPU {slow['callback'][:120]}")
            if "profile" in slow:
                print(slow["profile"])
        figures[trigger] = {"max_callback_wall_ms": wall, "max_callback_cpu_ms": cpu, "invocation_ms": total}
    check_s = statistics.median(checks)
    print(f"check      {check_s * 1000:7.1f} ms wall, process start to exit (goal <= 1000 ms; median of {runs})")
    return {"bench": "first_invocation", "runs": runs, **figures, "check_wall_ms": round(check_s * 1000, 1)}


def main() -> None:
    from devtools.services import services

    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    os.environ.setdefault("MAIL_SENDER", "webex-alerts@contoso.example")
    os.environ.setdefault("MAIL_TO", "it-admins@contoso.example")
    os.environ.setdefault("VERIFY_DELAYS", "1,1,2")
    if "SIMULATOR_URL" in os.environ:  # under `python -m devtools.services --` (make bench): reuse them
        from simulator.tls import trust_in_process

        trust_in_process(os.environ["SSL_CERT_FILE"])
        print(json.dumps(asyncio.run(run(runs, dict(os.environ)))))
        return
    with services() as env:
        os.environ.update(env)
        print(json.dumps(asyncio.run(run(runs, env))))


if __name__ == "__main__":
    main()
