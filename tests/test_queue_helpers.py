"""The queue helpers skip a visibility timeout instead of waiting for Azurite's timer: a delayed
message sent in the test is made visible at once and both clocks move on as if it had been waited
for; a message not due within the wait stays where it is."""

from __future__ import annotations

from typing import Any

from shared.clients.verify_queue import VerifyMessage


async def _send(delay: float) -> VerifyMessage:
    from shared.app.runtime import get_services

    svc = await get_services()
    message = VerifyMessage(svc.settings.tenant_id, "integration", "inc-helper-1", 2)
    queue = svc.queue()
    await queue.ensure_queue()
    await queue.send(message, delay_seconds=delay)
    return message


async def test_a_message_due_within_the_wait_is_taken_at_once_and_the_clocks_move(sim: Any) -> None:
    from shared.core.clock import clock
    from tests.helpers import receive_verify_messages

    message = await _send(delay=45)
    sim_before = (await sim.advance_clock(0))["offset_seconds"]
    before = clock.now()

    (msg,) = await receive_verify_messages(wait=60)

    assert VerifyMessage.from_json(msg.get_body()) == message
    moved = (clock.now() - before).total_seconds()
    assert 40 <= moved <= 50, moved  # the 45 s it still had to wait (minus the time since it was sent)
    sim_moved = (await sim.advance_clock(0))["offset_seconds"] - sim_before
    assert 40 <= sim_moved <= 50, sim_moved
    assert await receive_verify_messages(wait=60) == [], "taken: nothing is left"


async def test_a_message_not_due_within_the_wait_stays_invisible(sim: Any) -> None:
    from shared.core.clock import clock
    from tests.helpers import raw_queue_bodies, receive_verify_messages

    await _send(delay=600)
    before = clock.now()
    assert await receive_verify_messages(wait=30) == []
    assert await raw_queue_bodies(wait=30) == []
    assert (clock.now() - before).total_seconds() < 5, "no time skipped for a message not due"
    (raw,) = await raw_queue_bodies(wait=700)
    assert raw, "due within 700 s: visible (still base64) to a peek"
