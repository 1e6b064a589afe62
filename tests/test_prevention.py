"""Prevention notes (issue 4, item 5): the health timer writes the warning once, keeping what an admin
wrote, and only when PREVENTION_NOTES is on. Asserted on the PATCHes the simulator received."""

from __future__ import annotations

from typing import Any

import pytest

from shared.checks.prevention import MARKER, NOTE, NOTES_MAX, with_note
from shared.core.catalogue import INTEGRATION_APP_ID

PATCH_PATH = r"/servicePrincipals/[0-9a-fA-F-]{36}$"


async def tick(app_functions: dict[str, Any]) -> None:
    from azure.functions.timer import TimerRequest

    await app_functions["health_check"].get_user_function()(TimerRequest(past_due=False))


def notes_by_app(state: dict[str, Any]) -> dict[str, str | None]:
    return {sp["appId"]: sp["notes"] for sp in state["service_principals"]}


@pytest.fixture
async def prevent(sim: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    from shared.app.runtime import reset_services
    from shared.core.settings import reset_settings

    monkeypatch.setenv("PREVENTION_NOTES", "true")
    reset_settings()
    await reset_services()
    return sim


async def test_timer_writes_the_note_once_and_keeps_admin_text(prevent: Any, app_functions: dict[str, Any]) -> None:
    from shared.app.runtime import get_services

    state = await prevent.state()
    integration = next(sp for sp in state["service_principals"] if sp["appId"] == INTEGRATION_APP_ID)
    svc = await get_services()
    await (await svc.graph()).update_notes(integration["id"], "Owner: IAM team (ticket 4711)")
    await prevent.clear_requests()

    await tick(app_functions)
    patches = await prevent.requests(path=PATCH_PATH, method="PATCH")
    identity_app_id = state["config"]["identity_app_id"]
    assert len(patches) == 2, "one PATCH per Webex service principal"
    assert all({k for k in p["json"] if not k.startswith("@odata")} == {"notes"} for p in patches), [
        p["json"] for p in patches
    ]
    notes = notes_by_app(await prevent.state())
    assert notes[INTEGRATION_APP_ID] == f"Owner: IAM team (ticket 4711)\n\n{NOTE}", "admin text kept, note appended"
    assert notes[identity_app_id] == NOTE
    assert notes["00000003-0000-0000-c000-000000000000"] is None, "other apps are never touched"

    await tick(app_functions)
    await tick(app_functions)
    assert len(await prevent.requests(path=PATCH_PATH, method="PATCH")) == 2, "idempotent: written once"


async def test_note_comes_back_on_a_recreated_service_principal(prevent: Any, app_functions: dict[str, Any]) -> None:
    await tick(app_functions)
    await prevent.delete("integration")
    await prevent.consent()  # re-created under a new object id, with empty notes
    await prevent.clear_requests()
    await tick(app_functions)
    patches = await prevent.requests(path=PATCH_PATH, method="PATCH")
    assert len(patches) == 1 and patches[0]["json"]["notes"] == NOTE
    assert notes_by_app(await prevent.state())[INTEGRATION_APP_ID] == NOTE


async def test_a_refused_patch_does_not_break_the_health_check(prevent: Any, app_functions: dict[str, Any]) -> None:
    await prevent.add_fault(PATCH_PATH, method="PATCH", status=403, times=None)
    await tick(app_functions)  # logged, not raised
    assert {p["status"] for p in await prevent.requests(path=PATCH_PATH, method="PATCH")} == {403}
    await prevent.clear_faults()
    await tick(app_functions)
    assert MARKER in (notes_by_app(await prevent.state())[INTEGRATION_APP_ID] or ""), "written on a later tick"


async def test_off_by_default(sim: Any, app_functions: dict[str, Any]) -> None:
    await tick(app_functions)
    assert await sim.requests(path=PATCH_PATH, method="PATCH") == []


def test_with_note_rules() -> None:
    assert with_note(None) == NOTE and with_note("  ") == NOTE
    assert with_note("Owner: IAM") == f"Owner: IAM\n\n{NOTE}"
    assert with_note(f"x\n{MARKER.upper()} - older wording") is None, "present in any case: left alone"
    assert with_note("y" * (NOTES_MAX - len(NOTE))) is None, "never cut an admin's text to fit"
    assert len(NOTE) < NOTES_MAX // 2
