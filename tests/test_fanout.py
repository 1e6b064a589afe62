"""The fan-out helper: bounded concurrency, per-tenant failures, and the Graph presence look-up."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import httpx
import pytest

from devtools.fanout import fan_out, integration_presence
from shared.core.catalogue import INTEGRATION_APP_ID
from shared.core.errors import TransientError


async def test_never_more_than_limit_in_flight_and_order_kept() -> None:
    in_flight = peak = 0

    async def check(tenant: str) -> int:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        if tenant == "t7":
            raise TransientError("throttled", retry_after=5)
        return int(tenant[1:])

    results = await fan_out([f"t{i}" for i in range(40)], check, limit=5)
    assert peak == 5
    assert [r.tenant_id for r in results] == [f"t{i}" for i in range(40)]
    assert results[7].value is None and results[7].error is not None and "throttled" in results[7].error
    assert [r.value for r in results if r.error is None] == [i for i in range(40) if i != 7]


async def test_a_bug_is_not_swallowed() -> None:
    async def check(tenant: str) -> int:
        raise KeyError(tenant)

    with pytest.raises(KeyError):
        await fan_out(["a"], check, limit=1)
    with pytest.raises(ValueError):
        await fan_out(["a"], check, limit=0)


async def test_presence_against_graph(sim: Any) -> None:
    from shared.app.runtime import get_services

    svc = await get_services()
    credential = svc.credential()

    async def token(tenant_id: str) -> str:
        return (await credential.get_token(svc.settings.graph_scope)).token

    base = svc.settings.graph_base_url
    async with httpx.AsyncClient(timeout=5.0) as http:
        here = await integration_presence(http, base, token, os.environ["TENANT_ID"], INTEGRATION_APP_ID)
        assert here.present and here.enabled is True and here.object_id
        await sim.add_fault(r"/servicePrincipals$", method="GET", status=429, retry_after="7", times=1)
        with pytest.raises(TransientError) as info:
            await integration_presence(http, base, token, "t", INTEGRATION_APP_ID)
        assert info.value.retry_after == 7
        await sim.delete("integration", hard=True)
        gone = await integration_presence(http, base, token, "t", INTEGRATION_APP_ID)
        assert not gone.present
    recorded = await sim.requests(path="/servicePrincipals$", method="GET")
    assert recorded and all(r["query"].get("$filter") == f"appId eq '{INTEGRATION_APP_ID}'" for r in recorded)
