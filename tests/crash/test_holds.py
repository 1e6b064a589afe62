"""The crash points themselves: a held call (simulator.faults ``hold`` + ``skip``) at the simulator
and at the storage proxy — before the service acts or after it did — and the fault spec's parser."""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
from typing import Any

import httpx
import pytest

from simulator.faults import Fault, take_fault


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ({"hold": "sideways"}, "hold must be"),
        ({"hold": 1}, "hold must be"),
        ({"skip": -1}, "skip must be"),
        ({"skip": 10**9}, "skip must be"),
        ({"skip": "many"}, "invalid literal"),
        ({"hold": "before", "unknown": 1}, "unknown fault field"),
        ({"path": "(", "hold": "after"}, "not a valid regex"),
    ],
)
def test_hold_specs_that_are_refused(spec: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Fault.from_json(spec)


def test_skip_lets_calls_through_and_methods_may_be_a_set() -> None:
    faults = [Fault.from_json({"path": "/t", "method": "post|delete", "skip": 2, "hold": "before"})]
    seen = [take_fault(faults, method, "/t") for method in ("GET", "POST", "DELETE", "PUT", "POST")]
    assert [f is not None for f in seen] == [False, False, False, False, True], "the 3rd POST/DELETE is held"
    assert faults == [], "used up"
    assert seen[-1] is not None and seen[-1].describe()["hold"] == "before"


async def _held(sim: Any, path: str) -> dict[str, Any]:
    for _ in range(200):
        for entry in await sim.requests(path=path):
            if entry.get("held"):
                return dict(entry)
        await asyncio.sleep(0.02)
    raise AssertionError("the call was never held")


@pytest.mark.parametrize("when", ["before", "after"])
async def test_a_held_simulator_call_gets_no_answer_and_acted_only_after(
    sim: Any, services_env: dict[str, str], when: str
) -> None:
    await sim.add_fault(r"^/webexapis/v1/messages$", method="POST", skip=1, hold=when)
    url = services_env["WEBEX_API_BASE"] + "/messages"
    headers = {"Authorization": f"Bearer {services_env['WEBEX_BOT_TOKEN']}"}
    body = {"roomId": services_env["WEBEX_ROOM_ID"], "markdown": "hello"}
    trust = ssl.create_default_context(cafile=services_env["SSL_CERT_FILE"])
    async with httpx.AsyncClient(verify=trust, timeout=30) as client:
        first = await client.post(url, json=body, headers=headers)
        assert first.status_code == 200, "skip=1: the first call goes through"
        second = asyncio.ensure_future(client.post(url, json=body, headers=headers))
        entry = await _held(sim, r"/messages$")
        assert entry["held"] == when
        assert ("acted" in entry) is (when == "after"), "after: Webex stored the message; before: it never saw it"
        assert not second.done(), "no answer while held"
        await sim.clear_faults()  # the harness has killed the worker by now: the call ends, cut
        with pytest.raises(httpx.TransportError):
            await second
    accepted = [r for r in await sim.requests(path=r"/messages$") if r.get("acted", r["status"]) == 200]
    assert len(accepted) == (2 if when == "after" else 1)


@pytest.mark.parametrize("when", ["before", "after"])
async def test_a_held_storage_call_reached_azurite_only_after(services_env: dict[str, str], when: str) -> None:
    from azure.storage.queue.aio import QueueClient

    from simulator.storage_proxy import StorageFaultProxy

    conn = services_env["AzureWebJobsStorage"]
    target = re.search(r"QueueEndpoint=(http://[^;]+?)/devstoreaccount1", conn)
    assert target is not None
    proxy = await StorageFaultProxy(target.group(1)).start()
    proxied = re.sub(r"QueueEndpoint=http://[^/]+/", f"QueueEndpoint={proxy.base_url}/", conn)
    name = f"held-{when}"
    direct = QueueClient.from_connection_string(conn, name)
    via = QueueClient.from_connection_string(proxied, name, retry_total=0)
    try:
        with contextlib.suppress(Exception):
            await direct.create_queue()
        await direct.clear_messages()
        proxy.faults.append(Fault(path=r"/messages$", method="POST", hold=when))
        sending = asyncio.ensure_future(via.send_message("m"))
        await asyncio.wait_for(proxy.holding.wait(), timeout=10)
        (entry,) = [e for e in proxy.requests if e.get("held")]
        assert entry["held"] == when and ("acted" in entry) is (when == "after")
        if when == "after":
            assert "<PopReceipt>" in entry["answer"], "the harness reads the message's receipt from the answer"
        stored = (await direct.get_queue_properties()).approximate_message_count
        assert stored == (1 if when == "after" else 0), "after: Azurite has the message; before: it never saw it"
        proxy.release()
        with pytest.raises(Exception):  # noqa: B017 - the SDK's error for a cut connection varies
            await sending
    finally:
        await via.close()
        with contextlib.suppress(Exception):
            await direct.delete_queue()
        await direct.close()
        await proxy.stop()
