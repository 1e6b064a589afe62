"""Graph's connection pools keep their connections (shared/clients/graph.py, ``graph_http_client``).

httpcore 1.0 counts *every* connection of a pool against ``max_keepalive_connections`` and closes an
idle one after each request once more are open (encode/httpcore#1035): with httpx's defaults (100
connections, 20 kept alive) a pool serving 48 sweeps at once closed and re-opened a TLS connection
every few requests. The Graph pools keep as many alive as they may open."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

IN_FLIGHT = 24
APP_ID = "c1a8e0f0-1111-4222-8333-abcdefabcdef"


async def test_a_graph_pool_reuses_every_connection_it_opens(sim: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import httpcore

    from shared.app.runtime import get_services
    from shared.clients.graph import Graph, build_graph_client, graph_http_client

    opened: list[Any] = []
    real = httpcore.AsyncConnectionPool.create_connection

    def create(pool: Any, origin: Any) -> Any:
        opened.append(origin)
        return real(pool, origin)

    monkeypatch.setattr(httpcore.AsyncConnectionPool, "create_connection", create)
    await sim.graph_behaviour(call_latency_seconds=0.2)  # the simulator holds each answer: all at once
    svc = await get_services(ready=False)
    http = graph_http_client(connections=IN_FLIGHT)
    graph = Graph(build_graph_client(svc.settings, svc.credential(), http=http))
    try:
        for _ in range(3):  # the first round opens the connections, the next two reuse them
            await asyncio.gather(*(graph.service_principals_by_app_id(APP_ID) for _ in range(IN_FLIGHT)))
    finally:
        await http.aclose()
    graph_calls = [r for r in await sim.requests(path=r"^/graph/.*/servicePrincipals$") if r["method"] == "GET"]
    assert len(graph_calls) == 3 * IN_FLIGHT
    assert len(opened) == IN_FLIGHT  # none closed and re-opened between rounds


def test_graph_pools_are_handed_out_in_turn_with_one_tls_context() -> None:
    from shared.clients.graph import GraphPools

    pools = GraphPools(3, connections=5)
    got = [pools.next() for _ in range(7)]
    assert [id(p) for p in got] == [id(got[n % 3]) for n in range(7)]
    assert len({id(p) for p in got}) == 3
    inner = [p._transport.transport._pool for p in got[:3]]
    assert len({id(i._ssl_context) for i in inner}) == 1
    assert all(i._max_connections == 5 and i._max_keepalive_connections == 5 for i in inner)
    with pytest.raises(ValueError):
        GraphPools(0)
    asyncio.run(pools.aclose())
    assert all(p.is_closed for p in got[:3])
