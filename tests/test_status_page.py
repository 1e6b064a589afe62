"""Issue 18 point 2: the status page, from a real incident history on Azurite + simulator, through the
registered function, and looked at in headless Chromium (screenshots: `make screenshots` refreshes docs/img/)."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

from tests.helpers import deliver_event, incidents, receive_verify_messages
from tests.test_tenant_sweep import (
    _add,
    _fan_out,
    _messages,
    _sweep,
    provider,  # noqa: F401  (the fixture, by name)
)

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = '<script>alert("pwned")</script><img src=x onerror=alert(2)>[click](https://evil.example)'


def principal_header(*roles: str) -> str:
    body = {"auth_typ": "aad", "name_typ": "name", "role_typ": "roles",
            "claims": [{"typ": "name", "val": "Ada"}, *({"typ": "roles", "val": r} for r in roles)]}  # fmt: skip
    return base64.b64encode(json.dumps(body).encode()).decode()


def status_request(headers: dict[str, str], params: dict[str, str] | None = None) -> func.HttpRequest:
    return func.HttpRequest(method="GET", url="https://func.example/api/status", headers=headers,
                            params=params or {}, body=b"")  # fmt: skip


async def history(sim: Any, app_functions: dict[str, Any]) -> None:
    """One resolved incident (deleted, notified, checked, fixed) and one open one by a hostile actor."""
    from azure.functions.timer import TimerRequest

    records = await sim.delete("integration", actor="mallory@contoso.example")
    await deliver_event(app_functions, records[0])
    await sim.consent(actor="admin@contoso.example")
    (msg,) = await receive_verify_messages()
    await app_functions["verify_incident"].get_user_function()(msg)
    (resolved,) = await incidents()
    assert resolved.state == "resolved"
    records = await sim.delete("integration", actor=HOSTILE)
    await deliver_event(app_functions, records[0])
    await app_functions["health_check"].get_user_function()(TimerRequest(past_due=False))


@pytest.fixture(autouse=True)
def _platform_auth(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBSITE_AUTH_ENABLED", "True")  # as App Service sets it while authentication is on


async def test_status_refuses_without_principal_or_role(
    sim: Any, app_functions: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    fn = app_functions["status_page"].get_user_function()
    assert (await fn(status_request({}))).status_code == 401
    assert (await fn(status_request({"x-ms-client-principal": "garbage"}))).status_code == 401
    resp = await fn(status_request({"x-ms-client-principal": principal_header("Other.Role")}))
    assert resp.status_code == 403 and b"Status.Read" in resp.get_body() and b"Open incidents" not in resp.get_body()
    monkeypatch.delenv("WEBSITE_AUTH_ENABLED")  # authentication off: a client could send its own header
    resp = await fn(status_request({"x-ms-client-principal": principal_header("Status.Read")}))
    assert resp.status_code == 401 and b"Open incidents" not in resp.get_body()


async def test_status_html_and_json(sim: Any, app_functions: dict[str, Any]) -> None:
    await history(sim, app_functions)
    fn = app_functions["status_page"].get_user_function()
    ok = {"x-ms-client-principal": principal_header("Status.Read")}

    data = json.loads((await fn(status_request(ok, {"format": "json"}))).get_body())
    again = json.loads((await fn(status_request({**ok, "accept": "application/json"}))).get_body())
    assert data["open"] == again["open"]
    (open_,) = data["open"]
    (done,) = data["recent"]
    assert open_["initiator"] == HOSTILE, "JSON carries event text as data"
    assert open_["state"] == "notified" and open_["notified_at"] and open_["detected_at"]
    assert done["state"] == "resolved" and done["checks"] == 1 and done["time_to_recover_seconds"] is not None
    assert done["notified_at"] and done["resolved_at"]
    names = {r["name"]: r for r in data["health"]["rows"]}
    assert names["graph.service_principal.integration"]["verdict"] == "missing", "the timer's latest table"

    resp = await fn(status_request(ok))
    html = resp.get_body().decode()
    assert resp.mimetype == "text/html"
    assert "<script>" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in html, "shown, escaped"
    assert "script-src" not in resp.headers["Content-Security-Policy"], "no script may run at all"

    shots = await asyncio.to_thread(look_in_chromium, html)
    assert shots["dialogs"] == [], "hostile text ran as script"
    assert HOSTILE in shots["text"], "hostile text is visible, as text"
    assert shots["images"] == 0 and shots["links_to_evil"] == 0
    assert "Open incidents (1)" in shots["text"] and "Last 30 days (1)" in shots["text"]


def look_in_chromium(html: str, shots: str = "status-page") -> dict[str, Any]:
    from devtools.browser import chromium, screenshot_dir

    out: dict[str, Any] = {"dialogs": []}
    img = screenshot_dir()
    with chromium() as browser:  # one launch, a fresh page a width
        for width, name in ((1024, f"{shots}.png"), (480, f"{shots}-narrow.png")):
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.on("dialog", lambda d: (out["dialogs"].append(d.message), d.dismiss()))
            page.set_content(html, wait_until="load")
            out["text"] = page.inner_text("body")
            out["images"] = page.locator("img").count()
            out["links_to_evil"] = page.locator("a[href*='evil']").count()
            page.screenshot(path=str(img / name), full_page=True)
            page.close()
    return out


@pytest.mark.parametrize("fmt", ["json", "html"])
async def test_status_with_nothing_stored(sim: Any, app_functions: dict[str, Any], fmt: str) -> None:
    fn = app_functions["status_page"].get_user_function()
    resp = await fn(status_request({"x-ms-client-principal": principal_header("Status.Read")}, {"format": fmt}))
    assert resp.status_code == 200
    body = resp.get_body().decode()
    if fmt == "json":
        assert json.loads(body)["open"] == [] and json.loads(body)["health"] is None
        assert set(json.loads(body)) == {"generated_at", "open", "recent", "health"}, "single mode: as before"
    else:
        assert "No health check has run yet." in body


@pytest.mark.usefixtures("provider")
async def test_provider_status_is_one_row_per_tenant_worst_first(sim: Any, app_functions: dict[str, Any]) -> None:
    """Provider mode: the page is the tenants, from their last sweeps — not the deployment's own
    incidents and health table, which in provider mode say nothing about the customers."""
    import uuid

    from shared.app.runtime import get_services
    from shared.core.clock import clock, format_timestamp
    from shared.core.tenant import make_tenant

    a, b = await _add(sim, 2, names=[HOSTILE, "Fine Inc"])
    await sim.provider_consent(a, False)  # a's admin revoked the provider app's consent
    finished = []
    for _ in range(2):  # two ticks: a stays unreachable, so its "since" stays the first sweep's
        out = await _fan_out()
        for msg in await _messages(len(out.sent)):
            await _sweep(app_functions, msg)
        finished.append(clock.now())
        clock.advance(60)
    (c,) = await _add(sim, 1, names=["Later Ltd"])  # onboarded, not swept yet
    paused = str(uuid.uuid4())
    assert await (await get_services()).tenant_store().add(make_tenant(paused, display_name="Paused", enabled=False))

    fn = app_functions["status_page"].get_user_function()
    ok = {"x-ms-client-principal": principal_header("Status.Read")}
    data = json.loads((await fn(status_request(ok, {"format": "json"}))).get_body())
    assert data["mode"] == "provider" and "open" not in data and "health" not in data
    assert [t["tenant_id"] for t in data["tenants"]] == [a, c, b, paused], "worst first"
    assert [t["verdict"] for t in data["tenants"]] == ["unreachable", "pending", "healthy", "disabled"]
    bad, pending, fine = data["tenants"][:3]
    assert bad["display_name"] == HOSTILE, "JSON carries the name as data"
    assert any("token refused" in r for r in bad["reasons"]), bad["reasons"]
    assert bad["since"] < bad["last_sweep"], "since the first sweep that found it, not the last"
    assert bad["since"] <= format_timestamp(finished[0]) < bad["last_sweep"]
    assert fine["reasons"] == [] and fine["since"] <= format_timestamp(finished[0]) < fine["last_sweep"]
    assert pending["since"] is None and pending["last_sweep"] is None
    assert data["counts"] == {"unhealthy": 0, "unreachable": 1, "throttled": 0, "pending": 1, "healthy": 1,
                              "disabled": 1}  # fmt: skip

    resp = await fn(status_request(ok))
    html = resp.get_body().decode()
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    assert "<script>" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in html, "shown, escaped"
    assert "Open incidents" not in html and "1 of 4 tenants in trouble" in html
    assert html.index(a) < html.index(c) < html.index(b) < html.index(paused)
    shots = await asyncio.to_thread(look_in_chromium, html, "status-page-provider")
    assert shots["dialogs"] == [] and shots["images"] == 0 and shots["links_to_evil"] == 0
    assert HOSTILE in shots["text"], "the hostile name is visible, as text"
    assert "not swept yet" in shots["text"]
