"""Start and stop the simulator: in-process on the caller's loop, or in a background thread.

One HTTPS port serves every simulated service under its own prefix, so one base URL configures all
clients (see :meth:`Simulator.env`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from simulator import aad, control, graph, keyvault, loganalytics, receivers, webex
from simulator.keys import STATE
from simulator.middleware import simulate
from simulator.state import SimConfig, SimState
from simulator.tls import SimulatorTLS

T = TypeVar("T")


def build_app(state: SimState) -> web.Application:
    app = web.Application(middlewares=[simulate], client_max_size=4 * 1024 * 1024)
    app[STATE] = state
    control.register(app)
    graph.register(app)
    loganalytics.register(app)
    webex.register(app)
    keyvault.register(app)  # before aad: /secrets/{name} must not read as /{tenant}/…
    aad.register(app)
    receivers.register(app)
    return app


class Simulator:
    """The loopback server. ``await start()``, read :attr:`base_url` / :meth:`env`, ``await stop()``.

    ``state`` is the live :class:`SimState`; touch it only from the loop the server runs on.
    """

    def __init__(self, config: SimConfig | None = None, ca_pem_path: str | os.PathLike[str] | None = None) -> None:
        self.state = SimState(config)
        self.tls = SimulatorTLS()
        self._ca_target = ca_pem_path
        self._ca_path: Path | None = None
        self._owns_ca_file = False
        self._runner: web.AppRunner | None = None
        self._host = "127.0.0.1"
        self._port = 0

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> Simulator:
        if self._runner is not None:
            raise RuntimeError("simulator already started")
        self._ca_path = self.tls.write_ca_pem(self._ca_target)
        self._owns_ca_file = self._ca_target is None
        # Stopping cancels what is still in flight (a fault stalling an answer for 20 s) at once,
        # instead of waiting out aiohttp's 60 s shutdown_timeout (or the thread's join timeout).
        runner = web.AppRunner(build_app(self.state), handle_signals=False, access_log=None, shutdown_timeout=0.05)
        await runner.setup()
        site = web.TCPSite(runner, host, port, ssl_context=self.tls.server_context(), reuse_address=True)
        await site.start()
        server = site._server  # aiohttp exposes the bound port only here
        assert isinstance(server, asyncio.base_events.Server)
        self._port = int(server.sockets[0].getsockname()[1])
        self._host = host
        self._runner = runner
        return self

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        if self._owns_ca_file and self._ca_path is not None:
            with contextlib.suppress(OSError):
                self._ca_path.unlink()

    async def __aenter__(self) -> Simulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        if self._runner is None:
            raise RuntimeError("simulator not started")
        return f"https://{self._host}:{self._port}"

    @property
    def port(self) -> int:
        return self._port

    @property
    def ca_pem_path(self) -> str:
        if self._ca_path is None:
            raise RuntimeError("simulator not started")
        return str(self._ca_path)

    def env(self) -> dict[str, str]:
        """Every setting a client needs to use this simulator instead of Azure and Webex."""
        base = self.base_url
        cfg = self.state.config
        return {
            "SIMULATOR_URL": base,
            "ALLOW_CUSTOM_ENDPOINTS": "true",  # the simulator's loopback host is no cloud's
            "GRAPH_BASE_URL": f"{base}/graph/v1.0",
            "LOG_ANALYTICS_ENDPOINT": f"{base}/loganalytics",
            "WEBEX_API_BASE": f"{base}/webexapis/v1",
            "WEBEX_IDENTITY_BASE": f"{base}/webexidentity",
            "AZURE_AUTHORITY_HOST": base,
            "AZURE_TENANT_ID": cfg.tenant_id,
            "AZURE_CLIENT_ID": cfg.client_id,
            "AZURE_CLIENT_SECRET": cfg.client_secret,
            "SSL_CERT_FILE": self.ca_pem_path,
            "TENANT_ID": cfg.tenant_id,
            "WEBEX_ORG_ID": cfg.org_id,
            "WEBEX_ACCESS_TOKEN": cfg.webex_access_token,
            "WEBEX_BOT_TOKEN": cfg.webex_bot_token,
            "WEBEX_ROOM_ID": cfg.room_id,
            "LOG_ANALYTICS_WORKSPACE_ID": cfg.workspace_id,
            "WEBEX_IDENTITY_APP_ID": cfg.identity_app_id,
            "PROVIDER_APP_CLIENT_ID": cfg.provider_client_id,
        }


class SimulatorThread:
    """The simulator on its own event loop in a daemon thread, for synchronous callers (the demo
    CLI, benchmarks, sync tests). Drive it over HTTP (:class:`simulator.client.SimulatorControl`) or
    hand work to its loop with :meth:`call` / :meth:`run`."""

    def __init__(self, config: SimConfig | None = None, ca_pem_path: str | os.PathLike[str] | None = None) -> None:
        self.simulator = Simulator(config, ca_pem_path)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self, host: str = "127.0.0.1", port: int = 0, timeout: float = 30.0) -> SimulatorThread:
        if self._thread is not None:
            raise RuntimeError("simulator thread already started")
        self._thread = threading.Thread(target=self._main, args=(host, port), name="webex-simulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("simulator did not start in time")
        if self._error is not None:
            raise RuntimeError("simulator failed to start") from self._error
        return self

    def _main(self, host: str, port: int) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self.simulator.start(host, port))
        except BaseException as exc:  # reported to start()'s caller
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self.simulator.stop())
            pending = asyncio.all_tasks(loop)  # handlers a stop cut short (a stalled answer)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run ``coro`` on the simulator's loop and wait for its result."""
        if self._loop is None:
            raise RuntimeError("simulator thread not started")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def call(self, fn: Callable[[SimState], T], timeout: float = 30.0) -> T:
        """Run ``fn(state)`` on the simulator's loop (safe direct access to the state)."""

        async def _call() -> T:
            return fn(self.simulator.state)

        return self.run(_call(), timeout)

    def stop(self, timeout: float = 10.0) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        self._loop = None
        self._thread = None

    def __enter__(self) -> SimulatorThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return self.simulator.base_url

    @property
    def ca_pem_path(self) -> str:
        return self.simulator.ca_pem_path

    @property
    def state(self) -> SimState:
        return self.simulator.state

    def env(self) -> dict[str, str]:
        return self.simulator.env()
