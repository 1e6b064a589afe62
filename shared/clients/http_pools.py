"""A few small httpx pools handed out in turn, for clients that many tenants share (provider mode).

httpcore 1.0, under httpx, scans every connection of a pool — and polls each idle one's socket —
each time a request starts or ends, and counts *all* of a pool's connections against
``max_keepalive_connections`` (encode/httpcore#1035, not merged). The CPU a request costs therefore
grows with the connections its pool holds, about with their square: one pool serving 48 tenant
sweeps at once (~100 connections) spent ~15 ms of CPU per request, 16 pools of ~6 ~2.3 ms
(bench/bench_graph_requests.py). So the clients that every tenant's sweep uses are several small
pools, each keeping alive as many connections as it may open, taken in turn as a tenant's clients
are built: the sweeps a batch of queue messages starts together land on different pools. A pool
holds no token and no tenant data (each request carries its own), so which one a tenant uses does
not matter otherwise. One TLS context serves them all (one CA bundle loaded, not one per pool).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

KEEPALIVE_S = 30.0
"""Seconds an idle pooled connection is kept (httpx's default is 5): a sweep's requests come in
bursts between its storage steps, and with 5 s a loaded instance closed and re-opened (TLS) a
connection every few requests. A connection the server closed meanwhile is noticed before reuse
(httpcore polls idle sockets), and a request that still meets a closed one is a transient error."""


def pool_limits(connections: int) -> Any:
    """``httpx.Limits`` of a pool of ``connections``, all of them kept alive between requests."""
    import httpx

    if connections < 1:
        raise ValueError("a pool needs at least one connection")
    return httpx.Limits(max_connections=connections, max_keepalive_connections=connections,
                        keepalive_expiry=KEEPALIVE_S)  # fmt: skip


class HttpPools:
    """``shards`` httpx clients built by ``build(tls_context)`` on first use, handed out in turn."""

    def __init__(self, shards: int, build: Callable[[Any], Any]) -> None:
        if shards < 1:
            raise ValueError("HttpPools needs at least one pool")
        self._pools: list[Any] = [None] * shards
        self._build = build
        self._turn = 0
        self._tls: Any = None

    def __len__(self) -> int:
        return len(self._pools)

    def next(self) -> Any:
        """The next pool in turn (an httpx client)."""
        index = self._turn % len(self._pools)
        self._turn = index + 1
        pool = self._pools[index]
        if pool is None:
            if self._tls is None:
                import httpx

                self._tls = httpx.create_ssl_context()  # as each client would: SSL_CERT_FILE / certifi
            pool = self._pools[index] = self._build(self._tls)
        return pool

    async def aclose(self) -> None:
        for index, pool in enumerate(self._pools):
            if pool is not None:
                self._pools[index] = None
                await pool.aclose()


def environment_proxies_or_netrc() -> bool:
    """Whether the environment names an HTTP proxy or a netrc file: what aiohttp's ``trust_env``
    (azure-core's ``use_env_settings``) reads. With it on, aiohttp looks both up in a worker thread
    on *every* request — two thread hand-offs per request — so the tenants' token session turns it
    on only when there is something to find (the answer is then the same: no proxy, no netrc
    credentials)."""
    import os
    import urllib.request

    if urllib.request.getproxies():
        return True
    netrc = os.environ.get("NETRC")
    if not netrc:
        try:
            netrc = os.path.join(os.path.expanduser("~"), ".netrc")
        except (KeyError, RuntimeError):  # no home directory: nothing to read
            return False
    return os.path.isfile(netrc)
