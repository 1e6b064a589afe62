"""A verification message that failed five times is not silently lost: the poison-queue watcher tells
the admins (naming the incident) and re-arms the incident's verification on the real queue."""

from __future__ import annotations

from typing import Any

from azure.functions.queue import QueueMessage

from shared.notify.escape import webex_md
from tests.helpers import deliver_event, incidents, receive_verify_messages


def _poisoned(body: bytes) -> QueueMessage:
    """What the host hands the trigger: the extension *inserted* this copy into the poison queue, so
    its own DequeueCount is 1 however often the original failed."""
    return QueueMessage(id="poison-1", body=body, dequeue_count=1, pop_receipt="r")


async def test_poisoned_message_notifies_once_and_rearms(sim: Any, app_functions: dict[str, Any]) -> None:
    records = await sim.delete("integration")
    await deliver_event(app_functions, records[0])
    (first,) = await receive_verify_messages()  # the run that (we pretend) failed 5 times
    (inc,) = await incidents()

    watcher = app_functions["verify_poison"].get_user_function()
    await watcher(_poisoned(first.get_body()))
    await watcher(_poisoned(first.get_body()))  # the host may deliver it twice: one notice

    state = await sim.state()
    notices = [m for m in state["webex_messages"] if "keeps failing" in m["markdown"]]
    assert len(notices) == 1
    assert str(webex_md(inc.incident_id)) in notices[0]["markdown"], "the notice names the incident"
    assert "failed 5 times" in notices[0]["markdown"], "maxDequeueCount, not the poison copy's count"
    assert "failed 1 times" not in notices[0]["markdown"]
    mails = [m for m in state["sent_mails"] if "keeps failing" in m["message"]["subject"]]
    assert len(mails) == 1 and inc.incident_id in mails[0]["message"]["subject"]

    rearmed = await receive_verify_messages(expect=2)
    assert rearmed, "a new verification message is on the queue"
    assert {m.get_json()["incident_id"] for m in rearmed} == {inc.incident_id}
    assert {m.get_json()["attempt"] for m in rearmed} == {inc.verify_attempts}

    # The re-armed run works like any other: the admin consents, the run resolves the incident.
    await sim.consent()
    await app_functions["verify_incident"].get_user_function()(rearmed[0])
    (done,) = await incidents()
    assert done.state == "resolved"


async def test_poisoned_message_of_a_closed_incident_is_only_logged(sim: Any, app_functions: dict[str, Any]) -> None:
    from shared.app.poison import handle_poisoned
    from shared.app.runtime import get_services
    from shared.clients.verify_queue import VerifyMessage

    svc = await get_services()
    stale = VerifyMessage(svc.settings.tenant_id, "integration", "inc-gone", 3)
    outcome = await handle_poisoned(svc.poison_deps(), stale.to_json())
    assert outcome.outcome == "no_incident"
    assert (await handle_poisoned(svc.poison_deps(), b"{not json")).outcome == "unreadable"
    state = await sim.state()
    assert state["webex_messages"] == [] and state["sent_mails"] == []
    assert await receive_verify_messages(wait=1.0) == []
