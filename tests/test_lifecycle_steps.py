"""Every durable step of a whole incident is named and reached in order (the points where issue 19's
crash harness stops the worker), through the registered functions on Azurite + the simulator."""

from __future__ import annotations

from typing import Any

import azure.functions as func

from shared.incidents.lifecycle import armed
from tests.helpers import deliver_event, incidents


async def _run_verification(app_functions: dict[str, Any]) -> None:
    from shared.clients.verify_queue import VerifyMessage

    (inc,) = [i for i in await incidents() if i.state != "resolved"]
    msg = VerifyMessage(inc.tenant_id, inc.app_key, inc.incident_id, inc.verify_attempts)
    await app_functions["verify_incident"].get_user_function()(func.QueueMessage(id="m", body=msg.to_json().encode()))


async def test_a_whole_incident_reaches_every_durable_step_in_order(sim: Any, app_functions: dict[str, Any]) -> None:
    steps: list[str] = []
    records = await sim.delete("integration", actor="mallory@contoso.example")
    with armed(lambda step: steps.append(str(step))):
        await deliver_event(app_functions, records[0])
        opened, steps[:] = list(steps), []
        await _run_verification(app_functions)  # still broken
        broken, steps[:] = list(steps), []
        await sim.consent(actor="admin@contoso.example")
        await _run_verification(app_functions)  # fixed
        fixed = list(steps)
    assert opened == [
        "incident_inserted",
        "delivery_claimed",
        "delivery_sent",
        "delivery_recorded",
        "verify_enqueued",
        "verify_noted",
        "record_seen",
    ]
    assert broken == ["verify_claimed", "verdict_noted", "verify_enqueued", "verify_noted"]
    assert fixed == [
        "verify_claimed",
        "resolved",
        "delivery_claimed",
        "delivery_sent",
        "delivery_recorded",
        "archived",
    ]
    assert [i.state for i in await incidents()] == ["resolved"]


async def test_the_auto_restore_path_names_its_steps_too(heal: Any, app_functions: dict[str, Any]) -> None:
    steps: list[str] = []
    records = await heal.delete("integration", actor="mallory@contoso.example")
    with armed(lambda step: steps.append(str(step))):
        await deliver_event(app_functions, records[0])
    assert steps == [
        "incident_inserted",
        "restore_claimed",
        "restore_done",
        "restore_recorded",
        "delivery_claimed",
        "delivery_sent",
        "delivery_recorded",
        "verify_enqueued",
        "verify_noted",
        "record_seen",
    ]
    (inc,) = await incidents()
    assert inc.restore_outcome == "restored" and inc.state == "notified"
    assert sorted(inc.deliveries) == ["email/restored", "teams/restored", "webex/restored", "webhook/restored"]
