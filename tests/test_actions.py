"""Issue 18 point 1 end to end: the signed links of a real incident (Azurite + simulator), served by the
registered HTTP function with real ``azure.functions.HttpRequest`` objects."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import azure.functions as func
import pytest

from shared.core.catalogue import INTEGRATION_APP_ID
from tests.helpers import deliver_event, incidents, receive_verify_messages

KEY = "k" * 40
OLD_KEY = "o" * 40
BASE = "https://func-webex.azurewebsites.net"
FORM = "application/x-www-form-urlencoded"


async def links_on(monkeypatch: pytest.MonkeyPatch, key: str = KEY, previous: str | None = None) -> None:
    from shared.app.runtime import reset_services
    from shared.core.settings import reset_settings

    monkeypatch.setenv("ACTION_LINK_KEY", key)
    if previous:
        monkeypatch.setenv("ACTION_LINK_KEY_PREVIOUS", previous)
    monkeypatch.setenv("PUBLIC_BASE_URL", BASE)
    reset_settings()
    await reset_services()


async def open_incident(sim: Any, app_functions: dict[str, Any]) -> Any:
    records = await sim.delete("integration", actor="mallory@contoso.example")
    await deliver_event(app_functions, records[0])
    (inc,) = await incidents()
    return inc


async def links(inc: Any) -> tuple[str, str]:
    from shared.app.runtime import get_services
    from shared.incidents.notices import view_for
    from shared.notify.view import NoticeKind

    view = view_for((await get_services()).settings, inc, NoticeKind.REMINDER)
    assert view.check_now_url and view.acknowledge_url
    assert view.check_now_url.startswith(f"{BASE}/api/actions/")
    return view.check_now_url.rsplit("/", 1)[1], view.acknowledge_url.rsplit("/", 1)[1]


def request(method: str, token: str, form: dict[str, str] | None = None, ctype: str = FORM) -> func.HttpRequest:
    body = urlencode(form).encode() if form is not None else b""
    return func.HttpRequest(method=method, url=f"{BASE}/api/actions/{token}", headers={"content-type": ctype},
                            route_params={"token": token}, body=body)  # fmt: skip


async def call(app_functions: dict[str, Any], req: func.HttpRequest) -> tuple[int, str, func.HttpResponse]:
    resp = await app_functions["notice_action"].get_user_function()(req)
    return resp.status_code, resp.get_body().decode(), resp


def snapshot(inc: Any) -> tuple[Any, ...]:
    return (inc.etag, inc.acknowledged_at, inc.check_now_at, inc.history, inc.verify_attempts, inc.state)


async def test_get_confirms_and_changes_nothing(
    sim: Any, app_functions: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    await links_on(monkeypatch)
    inc = await open_incident(sim, app_functions)
    check, ack = await links(inc)
    before = (await sim.state())["sent_mails"]
    for token, button in ((check, "Check now"), (ack, "Acknowledge")):
        for _ in range(3):  # a mail scanner fetches, then the person opens it
            status, html, resp = await call(app_functions, request("GET", token))
            assert status == 200 and '<form method="post">' in html and f">{button}</button>" in html
            assert resp.headers["Referrer-Policy"] == "no-referrer", "the token must not leak in a Referer"
            assert "script-src" not in resp.headers["Content-Security-Policy"]
    (after,) = await incidents()
    assert snapshot(after) == snapshot(inc), "GET changed the incident"
    assert (await sim.state())["sent_mails"] == before


async def test_refused_links_are_403_and_change_nothing(
    sim: Any, app_functions: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.core.action_links import LinkAction, LinkKeys, issue
    from shared.core.clock import clock

    await links_on(monkeypatch)
    inc = await open_incident(sim, app_functions)
    check, ack = await links(inc)
    other_key = LinkKeys.from_text("x" * 40)
    forged = issue(tenant_id=inc.tenant_id, app_key=inc.app_key, incident_id=inc.incident_id,
                   action=LinkAction.ACKNOWLEDGE, now=clock.now(), keys=other_key)  # fmt: skip
    week_ago = clock.now() - timedelta(days=8)
    expired = issue(tenant_id=inc.tenant_id, app_key=inc.app_key, incident_id=inc.incident_id,
                    action=LinkAction.ACKNOWLEDGE, now=week_ago, keys=LinkKeys.from_text(KEY))  # fmt: skip
    good_ack = {"incident": inc.incident_id, "action": "acknowledge"}
    cases = [
        (forged, good_ack, FORM),
        (expired, good_ack, FORM),
        (ack, {"incident": "inc-20260101T000000Z-integration-000000", "action": "acknowledge"}, FORM),  # wrong incident
        (ack, {"incident": inc.incident_id, "action": "check_now"}, FORM),  # wrong action
        (check, good_ack, FORM),  # a Check now link posted as Acknowledge
        (ack[:-3], good_ack, FORM),  # truncated
        (ack + "A" * 2000, good_ack, FORM),  # oversized
        (ack, good_ack, "application/json"),
        (ack, {}, FORM),
    ]
    for token, form, ctype in cases:
        status, html, _ = await call(app_functions, request("POST", token, form, ctype))
        assert status == 403, (token[:20], form)
        assert "This link cannot be used" in html
        status, _, _ = await call(app_functions, request("GET", token))
        assert status in (200, 403)
    (after,) = await incidents()
    assert snapshot(after) == snapshot(inc), "a refused link changed the incident"


async def test_acknowledge_is_idempotent_and_stops_reminders_not_escalation(
    sim: Any, app_functions: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.core.clock import clock

    monkeypatch.setenv("REMINDER_HOURS", "1")
    monkeypatch.setenv("VERIFY_DEADLINE_HOURS", "3")
    await links_on(monkeypatch)
    inc = await open_incident(sim, app_functions)
    _, ack = await links(inc)
    form = {"incident": inc.incident_id, "action": "acknowledge"}
    status, html, _ = await call(app_functions, request("POST", ack, form))
    assert status == 200 and "Acknowledged" in html
    (acked,) = await incidents()
    assert acked.acknowledged_at is not None
    assert [what for _, what in acked.history] == ["acknowledged"]
    status, html, _ = await call(app_functions, request("POST", ack, form))
    assert status == 200 and "Already acknowledged" in html
    (again,) = await incidents()
    assert again.acknowledged_at == acked.acknowledged_at and again.history == acked.history

    verify = app_functions["verify_incident"].get_user_function()
    clock.advance(2 * 3600)  # past REMINDER_HOURS: an unacknowledged incident would be reminded now
    (msg,) = await receive_verify_messages()
    await verify(msg)
    (later,) = await incidents()
    assert not [k for k in later.deliveries if "/reminder-" in k], "acknowledged: no reminder"
    clock.advance(2 * 3600)  # past the deadline: escalation still happens
    (msg,) = await receive_verify_messages()
    await verify(msg)
    (escalated,) = await incidents()
    assert escalated.escalated_at is not None
    assert [k for k in escalated.deliveries if k.endswith("/escalated")], "escalation notice still owed"


async def test_unacknowledged_incident_is_reminded(
    sim: Any, app_functions: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control for the test above: the same run without the click sends a reminder."""
    from shared.core.clock import clock

    monkeypatch.setenv("REMINDER_HOURS", "1")
    await links_on(monkeypatch)
    await open_incident(sim, app_functions)
    clock.advance(2 * 3600)
    (msg,) = await receive_verify_messages()
    await app_functions["verify_incident"].get_user_function()(msg)
    (later,) = await incidents()
    assert [k for k in later.deliveries if "/reminder-" in k]


async def test_check_now_broken_then_rate_limited_then_fixed(
    sim: Any, app_functions: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.core.clock import clock

    await links_on(monkeypatch)
    inc = await open_incident(sim, app_functions)
    check, _ = await links(inc)
    form = {"incident": inc.incident_id, "action": "check_now"}
    status, html, _ = await call(app_functions, request("POST", check, form))
    assert status == 200 and "Still broken" in html
    assert "graph.service_principal.integration" in html and "missing" in html, "what is wrong"
    assert f"adminconsent?client_id={INTEGRATION_APP_ID}" in html, "and the fix again"
    (after,) = await incidents()
    assert after.verify_attempts == inc.verify_attempts + 1 and after.check_now_at is not None

    status, html, _ = await call(app_functions, request("POST", check, form))
    assert status == 429 and "Checked a moment ago" in html
    (limited,) = await incidents()
    assert limited.verify_attempts == after.verify_attempts, "rate-limited: no second run"

    await sim.consent(actor="admin@contoso.example")
    mails_before = len((await sim.state())["sent_mails"])
    clock.advance(31)
    status, html, _ = await call(app_functions, request("POST", check, form))
    assert status == 200 and "Fixed" in html, html
    assert await incidents() and all(not i.is_open for i in await incidents())
    (resolved,) = await incidents()
    assert resolved.state == "resolved" and [w for _, w in resolved.history] == ["check_now", "check_now"]
    mails = (await sim.state())["sent_mails"]
    assert len(mails) == mails_before + 1 and mails[-1]["message"]["subject"].startswith("[Resolved]"), (
        "resolved notice sent now"
    )

    status, html, _ = await call(app_functions, request("POST", check, form))
    assert status == 200 and "Already resolved" in html


async def test_previous_key_verifies_during_rotation(
    sim: Any, app_functions: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    await links_on(monkeypatch, key=OLD_KEY)
    inc = await open_incident(sim, app_functions)
    _, ack = await links(inc)
    await links_on(monkeypatch, key=KEY, previous=OLD_KEY)  # rotated: the old links still work
    status, html, _ = await call(
        app_functions, request("POST", ack, {"incident": inc.incident_id, "action": "acknowledge"})
    )
    assert status == 200 and "Acknowledged" in html
    monkeypatch.delenv("ACTION_LINK_KEY_PREVIOUS")
    await links_on(monkeypatch, key=KEY)  # rotation finished
    status, _, _ = await call(app_functions, request("GET", ack))
    assert status == 403


async def test_links_off_without_a_key(sim: Any, app_functions: dict[str, Any]) -> None:
    from shared.app.runtime import get_services
    from shared.incidents.notices import view_for
    from shared.notify.view import NoticeKind

    inc = await open_incident(sim, app_functions)
    view = view_for((await get_services()).settings, inc, NoticeKind.OPENED)
    assert view.check_now_url is None and view.acknowledge_url is None
    status, _, _ = await call(app_functions, request("GET", "anything.at-all"))
    assert status == 404


async def test_a_browser_confirms_then_acts(
    sim: Any, app_functions: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Headless Chromium opens the Acknowledge link (answered by the registered function through a
    route), sees the confirmation page, presses its button: the browser's own form POST (under the
    page's CSP) acknowledges the incident. ``make screenshots`` refreshes docs/img/ from it."""
    import asyncio

    await links_on(monkeypatch)
    inc = await open_incident(sim, app_functions)
    _, ack = await links(inc)
    loop = asyncio.get_running_loop()
    handler = app_functions["notice_action"].get_user_function()
    seen: list[str] = []

    def serve(route: Any, request: Any) -> None:
        token = request.url.split("?", 1)[0].rsplit("/", 1)[1]
        seen.append(request.method)
        req = func.HttpRequest(method=request.method, url=request.url, headers=dict(request.headers),
                               route_params={"token": token}, body=request.post_data_buffer or b"")  # fmt: skip
        resp = asyncio.run_coroutine_threadsafe(handler(req), loop).result(60)
        headers = {**dict(resp.headers), "content-type": f"{resp.mimetype}; charset=utf-8"}
        route.fulfill(status=resp.status_code, headers=headers, body=resp.get_body())

    def browse() -> tuple[str, str]:
        from devtools.browser import chromium_page, screenshot_dir

        img = screenshot_dir()
        with chromium_page(width=480, height=640) as page:
            page.route(f"{BASE}/api/actions/**", serve)
            page.goto(f"{BASE}/api/actions/{ack}")
            confirm = page.inner_text("body")
            page.screenshot(path=str(img / "action-confirm.png"))
            with page.expect_navigation():
                page.click("button")
            page.screenshot(path=str(img / "action-result.png"))
            return confirm, page.inner_text("body")

    confirm, result = await asyncio.to_thread(browse)
    assert "Nothing has happened yet" in confirm
    assert "Acknowledged" in result and "Reminders for this incident are off" in result
    assert seen == ["GET", "POST"]
    (after,) = await incidents()
    assert after.acknowledged_at is not None
