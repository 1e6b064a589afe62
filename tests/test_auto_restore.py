"""Opt-in self-healing end to end on Azurite + the simulator (issue 4, item 4).

Delete → the opening is processed (twice, concurrently) → exactly one restore POST → one "restored
automatically" notice per channel and no consent notice → verification passes → resolved. And the
fallbacks: hard delete, restore answered 403, grants that do not come back — the consent notice
goes out once, saying why.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from shared.core.catalogue import INTEGRATION_APP_ID
from tests.helpers import eventgrid_event, incidents, receive_verify_messages, run_intake
from tests.notice_helpers import asks_for_consent, delivered, notice_text

RESTORE_PATH = r"/directory/deletedItems/[0-9a-fA-F-]+/restore$"


def consent_url(services_env: dict[str, str]) -> str:
    return f"https://login.microsoftonline.com/{services_env['TENANT_ID'].lower()}/adminconsent?client_id="


async def open_twice(app_functions: dict[str, Any], record: dict[str, Any]) -> None:
    """The same opening processed twice at once (Event Grid redelivery racing the first)."""
    handler = app_functions["eventgrid_audit"].get_user_function()
    await asyncio.gather(handler(eventgrid_event(record)), handler(eventgrid_event(record)))
    await run_intake(app_functions, concurrent=True)  # both intake messages race


async def verify_once(app_functions: dict[str, Any]) -> None:
    verify = app_functions["verify_incident"].get_user_function()
    (msg,) = await receive_verify_messages(wait=8.0)
    await verify(msg)


async def test_soft_delete_is_restored_once_and_verified(
    heal: Any, app_functions: dict[str, Any], services_env: dict[str, str]
) -> None:
    before = {sp["appId"]: sp["id"] for sp in (await heal.state())["service_principals"]}
    records = await heal.delete("integration", actor="mallory@contoso.example")
    await open_twice(app_functions, records[0])

    restores = await heal.requests(path=RESTORE_PATH, method="POST")
    assert len(restores) == 1, "the restore is tried exactly once for the incident"
    assert restores[0]["path"].endswith(f"/deletedItems/{before[INTEGRATION_APP_ID]}/restore")
    state = await heal.state()
    assert state["integration_healthy"], "the service principal is back with its grants"
    assert {sp["appId"]: sp["id"] for sp in state["service_principals"]} == before, "same object id"

    (inc,) = await incidents()
    assert inc.restore_attempted and inc.restore_outcome == "restored" and inc.reason is None
    got = await delivered(heal)
    for channel, posts in got.items():
        assert len(posts) == 1, f"{channel}: one notice, got {len(posts)}"
        text = notice_text(channel, posts[0])
        assert "Restored automatically" in text or "[Restored]" in text, channel
        assert "mallory@contoso.example" in text, f"{channel}: who deleted it is in the notice"
        assert not asks_for_consent(channel, posts[0]), f"{channel}: no consent notice after a successful restore"
    assert got["webhook"][0]["json"]["notice"] == "restored"
    assert got["webex"][0]["json"].get("parentId") is None, "the restored notice starts the thread"

    await verify_once(app_functions)
    (inc,) = await incidents()
    assert inc.state == "resolved" and inc.time_to_recover is not None
    assert len(await heal.requests(path=RESTORE_PATH, method="POST")) == 1
    got = await delivered(heal)
    assert {c: len(p) for c, p in got.items()} == {"email": 2, "webex": 2, "teams": 2, "webhook": 2}
    assert [p["json"]["notice"] for p in got["webhook"]] == ["restored", "resolved"]
    assert got["webex"][1]["json"]["parentId"], "resolved is a reply under the restored notice"
    for channel, posts in got.items():
        assert not any(asks_for_consent(channel, p) for p in posts), channel


async def test_hard_delete_sends_the_consent_notice_with_the_reason(
    heal: Any, app_functions: dict[str, Any], services_env: dict[str, str]
) -> None:
    records = await heal.delete("integration", hard=True)
    handler = app_functions["eventgrid_audit"].get_user_function()
    for record in records:  # soft then hard record, as Entra logs a purge
        await handler(eventgrid_event(record))
        await handler(eventgrid_event(record))
        await run_intake(app_functions)

    assert await heal.requests(path=RESTORE_PATH, method="POST") == [], "nothing to restore"
    (inc,) = await incidents()
    assert inc.restore_outcome == "impossible"
    got = await delivered(heal)
    for channel, posts in got.items():
        assert len(posts) == 1, channel
        text = notice_text(channel, posts[0])
        assert consent_url(services_env) in text and asks_for_consent(channel, posts[0]), f"{channel}: consent"
        assert "Automatic restore was not done" in text and "recycle bin" in text, f"{channel}: says why"


@pytest.mark.parametrize(
    ("status", "why"),
    [(403, "Application.ReadWrite.All"), (404, "purged or restored by someone else")],
)
async def test_restore_refused_falls_back_to_consent_notice(
    heal: Any, app_functions: dict[str, Any], services_env: dict[str, str], status: int, why: str
) -> None:
    await heal.add_fault(RESTORE_PATH, method="POST", status=status, times=None)
    records = await heal.delete("integration")
    await open_twice(app_functions, records[0])
    handler = app_functions["eventgrid_audit"].get_user_function()
    await handler(eventgrid_event(records[0]))  # a third, later delivery
    await run_intake(app_functions)

    restores = await heal.requests(path=RESTORE_PATH, method="POST")
    assert len(restores) == 1 and restores[0]["status"] == status, "tried once, never again"
    (inc,) = await incidents()
    assert inc.restore_outcome == "impossible"
    code = {403: "Authorization_RequestDenied", 404: "Request_ResourceNotFound"}[status]
    assert inc.reason and why in inc.reason and code in inc.reason
    got = await delivered(heal)
    for channel, posts in got.items():
        assert len(posts) == 1, channel
        text = notice_text(channel, posts[0])
        assert asks_for_consent(channel, posts[0]) and why in text, channel
    assert got["webhook"][0]["json"]["reason"].startswith("Automatic restore was not done")
    assert not (await heal.state())["integration_healthy"]


@pytest.mark.parametrize("failure", ["503", "timeout"])
async def test_unconfirmed_restore_is_not_retried(
    heal: Any, app_functions: dict[str, Any], monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    """A 503 or a hang may or may not have restored the app: never POSTed again (a second restore
    could race an admin); the consent notice goes out and verification tells what really happened."""
    if failure == "503":
        await heal.add_fault(RESTORE_PATH, method="POST", status=503, times=None)
    else:
        import shared.clients.graph
        from shared.app.runtime import reset_services

        monkeypatch.setattr(shared.clients.graph, "REQUEST_TIMEOUT", 1.0)
        await reset_services()
        await heal.add_fault(RESTORE_PATH, method="POST", delay=3.0, drop=True, times=None)
    records = await heal.delete("integration")
    await open_twice(app_functions, records[0])
    assert len(await heal.requests(path=RESTORE_PATH, method="POST")) == 1, "no in-process retry of a restore"
    (inc,) = await incidents()
    assert inc.restore_outcome == "failed" and "not retried" in (inc.reason or "")
    got = await delivered(heal)
    assert all(len(p) == 1 and asks_for_consent(c, p[0]) for c, p in got.items())


async def test_grants_not_back_after_restore_send_consent_notice_once(
    heal: Any, app_functions: dict[str, Any], services_env: dict[str, str]
) -> None:
    records = await heal.delete("integration")
    await open_twice(app_functions, records[0])
    await heal.revoke(actor="mallory@contoso.example")  # the restored app comes back without its grant
    from shared.app.restore import RESTORE_SETTLE
    from shared.core.clock import clock

    clock.advance(RESTORE_SETTLE.total_seconds() + 1)  # before that, "no grant" may be replication lag

    for _ in range(2):  # two verification runs find 701018: one consent notice per channel
        await verify_once(app_functions)
    (inc,) = await incidents()
    assert inc.state == "verifying" and "consent_missing" in (inc.last_verdict or "")
    assert inc.reason and "701018" in inc.reason
    got = await delivered(heal)
    assert [p["json"]["notice"] for p in got["webhook"]] == ["restored", "opened"]
    for channel, posts in got.items():
        assert len(posts) == 2, channel
        consent = [p for p in posts if asks_for_consent(channel, p)]
        assert len(consent) == 1 and "701018" in notice_text(channel, consent[0]), channel
    assert len(await heal.requests(path=RESTORE_PATH, method="POST")) == 1


async def test_auto_restore_off_by_default(sim: Any, app_functions: dict[str, Any]) -> None:
    records = await sim.delete("integration")
    handler = app_functions["eventgrid_audit"].get_user_function()
    await handler(eventgrid_event(records[0]))
    await run_intake(app_functions)
    assert await sim.requests(path=RESTORE_PATH, method="POST") == []
    (inc,) = await incidents()
    assert not inc.restore_attempted and inc.restore_outcome is None and inc.state == "notified"


async def test_timer_path_restores_once_without_any_event(heal: Any, app_functions: dict[str, Any]) -> None:
    """No event reached us (no diagnostic setting, Event Grid down): the health timer finds the app in
    the recycle bin, and the same incident logic restores it once."""
    from azure.functions.timer import TimerRequest

    tick = app_functions["health_check"].get_user_function()
    await heal.delete("integration")
    await tick(TimerRequest(past_due=False))
    await tick(TimerRequest(past_due=False))  # healthy again: asks for a verification, restores nothing
    assert len(await heal.requests(path=RESTORE_PATH, method="POST")) == 1
    (inc,) = await incidents()
    # The timer's audit poll (a Graph directoryAudit) or its state check found it; no push path ran.
    assert inc.restore_outcome == "restored" and set(inc.sources) <= {"graph", "health"}
    got = await delivered(heal)
    assert all(len(p) == 1 and not asks_for_consent(c, p[0]) for c, p in got.items())
    verify = app_functions["verify_incident"].get_user_function()
    for msg in await receive_verify_messages(wait=8.0, expect=2):
        await verify(msg)
    assert [i.state for i in await incidents()] == ["resolved"]


async def test_a_claim_left_by_a_dead_worker_is_settled_not_retried(
    heal: Any, app_functions: dict[str, Any], services_env: dict[str, str]
) -> None:
    """A worker claimed the restore and died before recording what happened. While its claim is
    fresh nobody sends anything (it may still be working); once the lease is over the verification
    settles it as failed and sends the consent notice — and the restore is never tried again."""
    from shared.app.runtime import get_services
    from shared.core.clock import clock
    from shared.incidents.store import Incident, new_incident_id

    svc = await get_services()
    now = clock.now()
    claimed = Incident(
        tenant_id=svc.settings.tenant_id, app_key="integration", app_id=INTEGRATION_APP_ID,
        incident_id=new_incident_id("integration", now), kind="integration_deleted", action="notify_consent",
        state="open", opened_at=now, updated_at=now, first_record_id="crashed", soft_or_hard="soft",
        sources=("graph",), restore_attempted=True, restore_outcome="claimed", restore_at=now,
    )  # fmt: skip
    await svc.store().open_or_attach(claimed, "graph")
    records = await heal.delete("integration")
    await app_functions["eventgrid_audit"].get_user_function()(eventgrid_event(records[0]))
    await run_intake(app_functions)
    assert {c: len(p) for c, p in (await delivered(heal)).items()} == dict.fromkeys(
        ("email", "webex", "teams", "webhook"), 0
    ), "the claimant may still be working: nothing sent yet"

    clock.advance(180)  # past the restore lease
    await verify_once(app_functions)
    (inc,) = await incidents()
    assert inc.restore_outcome == "failed" and "did not complete" in (inc.reason or "")
    got = await delivered(heal)
    for channel, posts in got.items():
        assert len(posts) == 1 and asks_for_consent(channel, posts[0]), channel
        assert "did not complete" in notice_text(channel, posts[0]), channel
    assert await heal.requests(path=RESTORE_PATH, method="POST") == [], "never re-tried"


async def test_identity_app_is_restored_too(heal: Any, app_functions: dict[str, Any]) -> None:
    records = await heal.delete("identity")
    await open_twice(app_functions, records[0])
    restores = await heal.requests(path=RESTORE_PATH, method="POST")
    assert len(restores) == 1
    identity_app_id = (await heal.state())["config"]["identity_app_id"]
    assert any(sp["appId"] == identity_app_id for sp in (await heal.state())["service_principals"])
    (inc,) = await incidents()
    assert inc.kind == "identity_app_deleted" and inc.restore_outcome == "restored"
    got = await delivered(heal)
    assert [p["json"]["notice"] for p in got["webhook"]] == ["restored"]
    assert all(len(p) == 1 and "Wizard App set-up" not in notice_text(c, p[0]) for c, p in got.items()), (
        "no re-run steps"
    )


async def test_restore_follow_up_tolerates_the_status_calls_lag(heal: Any, app_functions: dict[str, Any]) -> None:
    """Issue 14 (4): Webex's status call lags Entra (simulator mode ``lagging``). Right after the
    restore it still answers 701018 while Graph shows the grants back: no false "the permission grants
    did not come back" consent notice; the incident resolves once Webex catches up."""
    lag = 300.0
    await heal.webex_status_mode("lagging", lag)
    records = await heal.delete("integration", actor="mallory@contoso.example")
    await heal.advance_clock(lag + 60)  # Webex has seen the deletion by the time the event is processed
    await open_twice(app_functions, records[0])
    (inc,) = await incidents()
    assert inc.restore_outcome == "restored"

    await verify_once(app_functions)
    (inc,) = await incidents()
    assert inc.state == "verifying" and "webex.sync_status=consent_missing" in (inc.last_verdict or "")
    assert "graph.consent_grant.integration=healthy" in (inc.last_verdict or "")
    assert inc.reason is None, inc.reason
    got = await delivered(heal)
    assert [p["json"]["notice"] for p in got["webhook"]] == ["restored"], "no consent notice at the first check"

    await heal.advance_clock(lag + 60)
    await verify_once(app_functions)
    (inc,) = await incidents()
    assert inc.state == "resolved", inc.last_verdict
    got = await delivered(heal)
    assert [p["json"]["notice"] for p in got["webhook"]] == ["restored", "resolved"]
    for channel, posts in got.items():
        assert not any(asks_for_consent(channel, p) for p in posts), channel
