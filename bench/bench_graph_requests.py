"""CPU per Graph request on the provider sweep's path: many Graph clients over shared pools, many
requests in flight, each answered after 100 ms by the loopback simulator.

``python -m devtools.services -- python bench/bench_graph_requests.py [--in-flight N] [--pools P]``

The provider sweep's Graph side without its storage side: ``--clients`` Graph clients (one per
tenant in the sweep; here all on the deployment's credential) built by
:func:`shared.clients.graph.build_graph_client` over :class:`shared.clients.graph.GraphPools`
(``--pools`` pools of ``--connections``), ``--in-flight`` requests at once (a sweep has ~2 in
flight: 48 sweeps ≈ 100), each a ``servicePrincipals?$filter=appId eq …&$select=…`` read as a
sweep's presence check reads it. Prints CPU milliseconds per request of this process (the simulator
runs in the parent), the connections each pool opened, and one JSON line. Judge on CPU, not wall
time: on a shared machine wall time mostly measures the neighbours.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

APP_ID = "c1a8e0f0-1111-4222-8333-abcdefabcdef"


async def run(requests: int, in_flight: int, pools: int, connections: int, clients: int) -> dict[str, Any]:
    from shared.app.runtime import get_services, reset_services
    from shared.clients.graph import Graph, GraphPools, build_graph_client
    from shared.core.settings import reset_settings
    from simulator.client import SimulatorControl

    reset_settings()
    await reset_services()
    control = SimulatorControl(os.environ["SIMULATOR_URL"], verify=os.environ["SSL_CERT_FILE"])
    svc = await get_services(ready=False)
    shared = GraphPools(pools, connections)
    graphs = [Graph(build_graph_client(svc.settings, svc.credential(), http=shared.next())) for _ in range(clients)]
    opened: dict[int, int] = {}
    try:
        await control.graph_behaviour(call_latency_seconds=0.1)
        await graphs[0].service_principals_by_app_id(APP_ID)  # token, imports, first connection
        _count_connections(opened)
        left = iter(range(requests))
        cpu, started = time.process_time(), time.perf_counter()

        async def worker(n: int) -> None:
            for i in left:
                await graphs[(i + n) % clients].service_principals_by_app_id(APP_ID)

        await asyncio.gather(*(worker(n) for n in range(in_flight)))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - started
    finally:
        await shared.aclose()
        await svc.aclose()
        await reset_services()
        await control.aclose()
    return {
        "bench": "graph_requests",
        "requests": requests,
        "in_flight": in_flight,
        "pools": pools,
        "connections_per_pool": connections,
        "clients": clients,
        "cpu_ms_per_request": round(1000 * cpu / requests, 3),
        "wall_seconds": round(wall, 2),
        "connections_opened": sum(opened.values()),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "load_avg_1m": round(os.getloadavg()[0], 1),
    }


def _count_connections(opened: dict[int, int]) -> None:
    """Count the connections every httpcore pool opens from now on (``opened``: per pool)."""
    import httpcore

    real = httpcore.AsyncConnectionPool.create_connection

    def create(pool: Any, origin: Any) -> Any:
        opened[id(pool)] = opened.get(id(pool), 0) + 1
        return real(pool, origin)

    httpcore.AsyncConnectionPool.create_connection = create  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--in-flight", type=int, default=96, help="requests at once (default 96: 48 sweeps)")
    parser.add_argument("--pools", type=int, default=None, help="default: the runtime's TENANT_GRAPH_POOLS")
    parser.add_argument("--connections", type=int, default=None, help="per pool; default GRAPH_POOL_CONNECTIONS")
    parser.add_argument("--clients", type=int, default=64, help="Graph clients (tenants) the requests rotate over")
    args = parser.parse_args(argv)
    from shared.app.runtime import TENANT_GRAPH_POOLS
    from shared.clients.graph import GRAPH_POOL_CONNECTIONS

    pools = args.pools or TENANT_GRAPH_POOLS
    connections = args.connections or GRAPH_POOL_CONNECTIONS
    r = asyncio.run(run(args.requests, args.in_flight, pools, connections, args.clients))
    print(f"{r['requests']} Graph requests, {r['in_flight']} in flight over {pools} pools of {connections}: "
          f"{r['cpu_ms_per_request']} ms CPU each, {r['connections_opened']} connections opened, "
          f"{r['wall_seconds']} s, peak RSS {r['peak_rss_mb']} MB (load {r['load_avg_1m']})")  # fmt: skip
    print(json.dumps(r))


if __name__ == "__main__":
    main()
