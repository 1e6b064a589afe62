"""Health-check fan-out: 1,000 tenants, 100 ms API latency, one worker.

``python -m devtools.services -- python bench/bench_fanout.py [tenants] [latency_s] [limit]``.
Every Graph call to the simulator is slowed by a delay fault (default 100 ms), then
:func:`devtools.fanout.fan_out` runs :func:`devtools.fanout.integration_presence` for ``tenants`` tenant
ids (default 1,000) with ``limit`` calls in flight (default
:data:`devtools.fanout.DEFAULT_LIMIT`) on one shared HTTP client. Prints the
run time (goal ≤ 60 s), the serial time it replaces (tenants × latency), the speed-up, and the
process's peak RSS (goal ≤ 150 MB; the simulator runs in the parent process and is not counted),
then one JSON line. The simulator serves one tenant, so every tenant id reads the same directory —
the load on the client side (connections, tasks, memory) is what is measured.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devtools.fanout import DEFAULT_LIMIT


async def run(tenants: int, latency: float, limit: int) -> dict[str, object]:
    import httpx

    from devtools.fanout import fan_out, integration_presence
    from shared.clients.credentials import make_credential
    from shared.core.catalogue import INTEGRATION_APP_ID
    from shared.core.settings import get_settings
    from simulator.client import SimulatorControl

    control = SimulatorControl(os.environ["SIMULATOR_URL"], verify=os.environ["SSL_CERT_FILE"])
    await control.reset()
    await control.add_fault(r"^/graph/v1\.0/servicePrincipals", method="GET", delay=latency, times=None)
    settings = get_settings()
    credential = make_credential()

    async def token(tenant_id: str) -> str:
        # One multi-tenant credential per tenant in production; the simulator has one tenant.
        return (await credential.get_token(settings.graph_scope)).token

    ids = [str(uuid.UUID(int=n + 1)) for n in range(tenants)]
    limits = httpx.Limits(max_connections=limit, max_keepalive_connections=limit)
    async with httpx.AsyncClient(timeout=httpx.Timeout(30.0), limits=limits) as http:
        await integration_presence(http, settings.graph_base_url, token, ids[0], INTEGRATION_APP_ID)  # warm-up
        started, cpu_started = time.perf_counter(), time.process_time()
        results = await fan_out(
            ids,
            lambda t: integration_presence(http, settings.graph_base_url, token, t, INTEGRATION_APP_ID),
            limit=limit,
        )
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
    await credential.close()
    await control.clear_faults()
    await control.aclose()
    ok = sum(1 for r in results if r.error is None and r.value is not None and r.value.present)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    return {
        "bench": "fanout",
        "tenants": tenants,
        "latency_ms": round(latency * 1000),
        "limit": limit,
        "seconds": round(elapsed, 2),
        "client_cpu_seconds": round(cpu, 2),
        "serial_seconds": round(tenants * latency, 1),
        "speedup": round(tenants * latency / elapsed, 1),
        "present": ok,
        "errors": sum(1 for r in results if r.error is not None),
        "peak_rss_mb": round(peak_mb, 1),
    }


def main() -> None:
    tenants = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    latency = float(sys.argv[2]) if len(sys.argv) > 2 else 0.1
    limit = int(sys.argv[3]) if len(sys.argv) > 3 else DEFAULT_LIMIT
    figures = asyncio.run(run(tenants, latency, limit))
    print(f"{tenants} tenants, {figures['latency_ms']} ms per Graph call, {limit} in flight, one worker")
    print(f"  run time   : {figures['seconds']} s   (goal <= 60 s; serial would be {figures['serial_seconds']} s)")
    print(f"  client CPU : {figures['client_cpu_seconds']} s (the rest is waiting on the simulator)")
    print(f"  speed-up   : {figures['speedup']}x   ({figures['present']} present, {figures['errors']} errors)")
    print(f"  peak RSS   : {figures['peak_rss_mb']} MB   (goal <= 150 MB)")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
