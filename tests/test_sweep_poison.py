"""A tenant's sweep message that failed five times (Azurite + simulator, through the registered
``tenant_sweep_poison`` function with a real ``func.QueueMessage``): the tenant's result says its
sweep failed repeatedly, the provider's digest lists it, and the next tick sends it a fresh message
at once — the queued marker of the poisoned message does not hold it back until the message's TTL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from azure.functions.queue import QueueMessage

from tests.test_tenant_sweep import (
    _add,
    _fan_out,
    _mail_to,
    _messages,
    _result,
    _sweep,
    _sweep_each,
    provider,  # noqa: F401  (the fixture, by name)
)

pytestmark = pytest.mark.usefixtures("provider")
HOST_JSON = Path(__file__).resolve().parent.parent / "host.json"


def _poisoned(body: bytes) -> QueueMessage:
    """What the host hands the trigger: the extension *inserted* this copy into the poison queue, so
    its own DequeueCount is 1 however often the original failed."""
    return QueueMessage(id="poison-1", body=body, dequeue_count=1, pop_receipt="r")


async def _watch(app_functions: dict[str, Any], body: bytes) -> None:
    await app_functions["tenant_sweep_poison"].get_user_function()(_poisoned(body))


async def test_a_poisoned_sweep_is_listed_in_the_digest_and_sent_again_next_tick(
    sim: Any, app_functions: dict[str, Any]
) -> None:
    from shared.core.clock import clock

    a, b = await _add(sim, 2, names=["<b>Evil</b> Corp", "Fine Inc"])
    await sim.add_fault(f"^/{a}/oauth2/v2\\.0/token$", method="POST", status=503, times=None)
    assert (await _fan_out()).digest is None  # nothing known yet
    # a's sweep fails; the host retries it four more times, then moves it to the poison queue
    (poisoned,) = await _sweep_each(app_functions, await _messages(2))
    await _watch(app_functions, poisoned.get_body())

    row = await _result(a)
    assert row.verdict == "unreachable" and "failed 5 times" in row.reasons[0], row.reasons
    assert "failed 1 times" not in " ".join(row.reasons), "never the poison copy's own DequeueCount"
    assert "token endpoint answered 503" in row.reasons[1], "the last error the retried sweep recorded"
    assert (await _result(b)).verdict == "healthy"

    await sim.clear_faults()
    clock.advance(60)  # the next tick: two minutes are well within the message's 10-minute TTL
    second = await _fan_out()
    assert sorted(second.sent) == sorted([a, b]) and second.waiting == [], "the marker does not hold a back"
    assert second.digest == ["email", "webex"]
    text = next(t for to, t in await _mail_to(sim) if to == {"it-admins@contoso.example"})
    assert "1 of 2 tenants in trouble" in text and a in text and "failed 5 times" in text
    for msg in await _messages(2):
        await _sweep(app_functions, msg)
    assert (await _result(a)).verdict == "healthy", "the fresh message reached the tenant"


async def test_bad_removed_and_superseded_messages_are_dropped_never_raised(
    sim: Any, app_functions: dict[str, Any]
) -> None:
    from shared.app.runtime import get_services
    from shared.clients.sweep_queue import SweepMessage
    from shared.clients.sweep_results import SweepResults

    for body in (b"", b"{not json", b"\xff\xfe", b"[" * 100_000, b'{"v":1,"tenant_id":"<script>","sweep_id":"x"}'):
        await _watch(app_functions, body)  # logged and consumed

    (a,) = await _add(sim, 1)
    await _fan_out()
    (msg,) = await _messages(1)
    await _sweep(app_functions, msg)  # a later sweep reached the tenant
    older = SweepMessage(a, "2026-01-01T00:00:00.000000Z").to_json().encode()
    await _watch(app_functions, older)
    assert (await _result(a)).verdict == "healthy", "a later sweep's result stands"

    await (await get_services()).tenant_store().remove(a)
    await _watch(app_functions, msg.get_body())
    board = await SweepResults((await get_services()).table()).board()
    assert a not in board.results and a not in board.queued, "removed meanwhile: dropped, its rows forgotten"


async def test_through_the_host_five_failed_attempts_then_the_watcher(sim: Any, app_functions: dict[str, Any]) -> None:
    """The whole way with the host's queue rules (devtools/queue_host.py, host.json's settings with
    the 30 s visibility timeout cut to 0 so no one waits): five attempts of the tenant's message, the
    copy moved to ``webex-tenant-sweep-poison`` with a DequeueCount of its own, and the watcher."""
    import contextlib
    import os
    from dataclasses import replace
    from datetime import timedelta

    from azure.core.exceptions import ResourceExistsError

    from devtools.queue_host import HostQueueListener, HostQueueSettings, queue_client
    from shared.core.names import MAX_DEQUEUE_COUNT, SWEEP_POISON_QUEUE, SWEEP_QUEUE

    (a,) = await _add(sim, 1)
    await sim.add_fault(f"^/{a}/oauth2/v2\\.0/token$", method="POST", status=503, times=None)
    host = replace(HostQueueSettings.from_host_json(HOST_JSON), visibility_timeout=timedelta(0))
    connection = os.environ["AzureWebJobsStorage"]
    async with (
        queue_client(connection, SWEEP_QUEUE, base64=host.base64) as queue,
        queue_client(connection, SWEEP_POISON_QUEUE, base64=host.base64) as poison,
    ):
        with contextlib.suppress(ResourceExistsError):
            await poison.create_queue()
        await poison.clear_messages()
        assert (await _fan_out()).sent == [a]
        sweep = app_functions["tenant_sweep"].get_user_function()
        runs = await HostQueueListener(queue, sweep, host, poison=poison).drain()
        assert [r.dequeue_count for r in runs] == list(range(1, MAX_DEQUEUE_COUNT + 1))
        assert all(r.error and "TransientError" in r.error for r in runs)
        watcher = app_functions["tenant_sweep_poison"].get_user_function()
        watched = await HostQueueListener(poison, watcher, host).drain()
        assert [(r.dequeue_count, r.error) for r in watched] == [(1, None)], "consumed: the poison queue is empty"
        assert watched[0].body == runs[0].body
    row = await _result(a)
    assert row.verdict == "unreachable" and f"failed {MAX_DEQUEUE_COUNT} times" in row.reasons[0]
