"""A fault-injecting pass-through in front of Azurite's table or queue endpoint.

The simulator's faults apply to the APIs it serves; the incidents table and the verification queue
are real Azurite. To prove that a throttled, failing, slow or reset storage call loses nothing, the
tests point a storage client at this proxy: every request is forwarded to Azurite unchanged (Shared
Key signatures cover the path, not the host and port, so they stay valid) unless a
:class:`~simulator.faults.Fault` matches it first, answered as Azure Storage would (the storage error
XML for an HTTP status, a reset connection, a delay, or a malformed body).

The crash harness (tests/crash/) puts one proxy in front of the table endpoint and one in front of
the queue endpoint, sharing one fault list and one recording, and holds the k-th durable call
(:class:`~simulator.faults.Fault` ``hold``): before it reaches Azurite, or after Azurite applied it
and before the answer goes back. Each recorded call keeps when Azurite answered (``answered_at``,
``time.monotonic``) and a short answer body (queue sends answer with the message id and pop receipt).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
from aiohttp import web

from simulator.faults import Fault, delay_or_drop, hold_request, release_holds, take_fault

_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "host", "content-encoding"})
_STORAGE_ERROR = (
    '<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code>'
    "<Message>Simulated fault ({status}).</Message></Error>"
)
_CODES = {429: "ServerBusy", 500: "InternalError", 503: "ServerBusy"}


class StorageFaultProxy:
    """``await start()``, point a client at :attr:`base_url`, add :class:`Fault` s to :attr:`faults`."""

    def __init__(
        self, target: str, *, faults: list[Fault] | None = None, requests: list[dict[str, Any]] | None = None
    ) -> None:
        self.target = target.rstrip("/")
        self.faults: list[Fault] = [] if faults is None else faults  # shared: one k-th count over proxies
        self.requests: list[dict[str, Any]] = [] if requests is None else requests
        self.held: list[Fault] = []
        self.holding = asyncio.Event()
        """Set when a call starts being held (the crash harness waits on it instead of polling)."""
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> StorageFaultProxy:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._session = aiohttp.ClientSession(auto_decompress=False)
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=0.05)  # stalls end at stop
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        server = site._server  # aiohttp exposes the bound port only here
        assert isinstance(server, asyncio.base_events.Server)
        self.port = int(server.sockets[0].getsockname()[1])
        self._runner = runner
        return self

    def release(self) -> int:
        """End every held call (its connection is cut)."""
        self.holding.clear()
        return release_holds(self.held)

    async def stop(self) -> None:
        self.release()
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        entry: dict[str, Any] = {
            "method": request.method, "path": request.path, "query": request.query_string, "fault": None,
            "status": None, "port": self.port,
        }  # fmt: skip
        self.requests.append(entry)
        fault = take_fault(self.faults, request.method, request.path)
        if fault is not None and fault.hold == "before":
            self.holding.set()
            return await hold_request(fault, request, entry, self.held)
        if fault is not None and fault.hold is None:
            dropped = await delay_or_drop(fault, request, entry)
            if dropped is not None:
                return dropped
            if fault.malformed:
                entry["status"] = fault.status or 200
                return web.Response(
                    status=fault.status or 200, text='{"odata.metadata":"trunc', content_type="application/json"
                )
            if fault.status is not None:
                entry["status"] = fault.status
                headers = {"x-ms-error-code": _CODES.get(fault.status, "InternalError"), **fault.headers}
                if fault.retry_after is not None:
                    headers["Retry-After"] = fault.retry_after
                text = _STORAGE_ERROR.format(code=headers["x-ms-error-code"], status=fault.status)
                return web.Response(status=fault.status, text=text, content_type="application/xml", headers=headers)
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        async with self._session.request(
            request.method,
            self.target + request.path_qs,
            data=body or None,
            headers=headers,
            allow_redirects=False,
            skip_auto_headers=("Content-Type", "Accept-Encoding", "User-Agent"),  # signed as sent, no extras
        ) as upstream:
            payload = await upstream.read()
            out_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP}
            entry["status"] = upstream.status
            entry["answered_at"] = time.monotonic()
            if len(payload) <= 4096:
                entry["answer"] = payload.decode("utf-8", "replace")
        if fault is not None and fault.hold == "after":  # Azurite applied it; the answer never leaves
            entry["acted"] = entry["status"]
            self.holding.set()
            return await hold_request(fault, request, entry, self.held)
        return web.Response(status=upstream.status, body=payload, headers=out_headers)
