"""Stopping the simulator (and the storage fault proxy) never waits for an answer a fault stalls:
the session's teardown, and each fault-matrix cell's, end at once instead of after aiohttp's
shutdown timeout or the thread's join timeout (10 s)."""

from __future__ import annotations

import ssl
import time

import httpx
import pytest


async def _stall(base_url: str, verify: ssl.SSLContext | bool) -> None:
    async with httpx.AsyncClient(verify=verify) as http:
        with pytest.raises(httpx.TimeoutException):
            await http.get(base_url + "/graph/v1.0/servicePrincipals", timeout=0.3)


async def test_simulator_stops_at_once_with_a_stalled_answer() -> None:
    from simulator.client import SimulatorControl
    from simulator.server import SimulatorThread

    sim = SimulatorThread().start()
    try:
        control = SimulatorControl(sim.base_url, verify=sim.ca_pem_path)
        await control.add_fault("/graph/", delay=20, times=None)
        await control.aclose()
        await _stall(sim.base_url, ssl.create_default_context(cafile=sim.ca_pem_path))
    finally:
        started = time.monotonic()
        sim.stop()
    assert time.monotonic() - started < 2.0


async def test_storage_proxy_stops_at_once_with_a_stalled_answer() -> None:
    from simulator.faults import Fault
    from simulator.storage_proxy import StorageFaultProxy

    proxy = await StorageFaultProxy("http://127.0.0.1:9").start()  # the stall comes before any forwarding
    proxy.faults.append(Fault(path=".*", delay=20, times=None))
    await _stall(proxy.base_url, verify=False)
    started = time.monotonic()
    await proxy.stop()
    assert time.monotonic() - started < 2.0
