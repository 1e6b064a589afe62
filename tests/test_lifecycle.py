"""Issue 2's spine, end to end on real local parts: Event Grid → intake queue → incident (Azurite) →
e-mail and Webex notices (recorded by the simulator) → verification queue → verify fails (701018) → an admin
consents → verify resolves with a "fixed" notice."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest

from shared.catalogue import INTEGRATION_APP_ID
from tests.helpers import eventgrid_event, incidents, raw_queue_bodies, receive_verify_messages, run_intake


def consent(tenant: str) -> str:
    return f"https://login.microsoftonline.com/{tenant}/adminconsent?client_id={INTEGRATION_APP_ID}"


async def test_deletion_to_resolution(sim: Any, app_functions: dict[str, Any], services_env: dict[str, str]) -> None:
    tenant = services_env["TENANT_ID"].lower()
    records = await sim.delete("integration", actor="mallory@contoso.example")
    assert records, "the simulator appends the audit record of the deletion"

    handler = app_functions["eventgrid_audit"].get_user_function()
    event = eventgrid_event(records[0])
    for _ in range(3):  # Event Grid delivers at least once: the same event three times
        await handler(event)
    assert await incidents() == [], "the trigger only enqueues; the intake function does the work"
    assert await run_intake(app_functions) == 3

    rows = await incidents()
    assert len(rows) == 1
    inc = rows[0]
    assert inc.kind == "integration_deleted" and inc.state == "notified"
    assert inc.initiator_label == "mallory@contoso.example"

    mails = await sim.requests(path="/sendMail$", method="POST")
    webex = await sim.requests(path="/webexapis/v1/messages$", method="POST")
    assert len(mails) == 1 and len(webex) == 1, "one notice per channel"
    (mail,) = (await sim.state())["sent_mails"]
    assert mail["message"]["toRecipients"][0]["emailAddress"]["address"] == "it-admins@contoso.example"
    assert f'href="{consent(tenant)}"' in mail["message"]["body"]["content"], "HTML part links the consent URL"
    assert consent(tenant) in mail["message"]["textBody"], "plain-text part has it too"
    assert consent(tenant) in webex[0]["json"]["markdown"]

    await asyncio.sleep(1.2)  # the first run is delayed by VERIFY_DELAYS[0] = 1 s (visibility timeout)
    raw = await raw_queue_bodies()
    assert len(raw) == 1
    assert json.loads(base64.b64decode(raw[0]))["incident_id"] == inc.incident_id, "base64 as the host expects"

    verify = app_functions["verify_incident"].get_user_function()
    (msg,) = await receive_verify_messages()
    await verify(msg)  # Webex still says 701018: rescheduled
    (inc,) = await incidents()
    assert inc.state == "verifying" and inc.verify_attempts == 1
    assert "consent_missing" in (inc.last_verdict or "")

    await sim.consent(actor="admin@contoso.example")
    (msg,) = await receive_verify_messages()
    await verify(msg)
    (inc,) = await incidents()
    assert inc.state == "resolved" and inc.resolved_at is not None
    assert inc.time_to_recover is not None

    webex = await sim.requests(path="/webexapis/v1/messages$", method="POST")
    assert len(webex) == 2
    reply = webex[1]["json"]
    assert reply.get("parentId"), "the resolved notice is a reply in the incident's thread"
    mails = await sim.requests(path="/sendMail$", method="POST")
    assert len(mails) == 2

    # A late duplicate of the old deletion does not reopen the fixed outage.
    await handler(event)
    assert await run_intake(app_functions) == 1
    assert [i.state for i in await incidents()] == ["resolved"]


@pytest.mark.parametrize("body", [b"{not json", b'{"id": "x", "data": ', b"\xff\xfe"])
async def test_eventgrid_bad_payload_is_acknowledged(sim: Any, app_functions: dict[str, Any], body: bytes) -> None:
    import azure.functions as func

    handler = app_functions["eventgrid_audit"].get_user_function()
    event = func.EventGridEvent(
        id="bad-1", data=body.decode("latin-1"), topic="t", subject="s", event_type="Webex.AuditRecord",
        event_time=None, data_version="1.0",
    )  # fmt: skip
    await handler(event)  # returns: logged, not retried
    assert await run_intake(app_functions) == 0, "nothing enqueued"
    assert await incidents() == []
