""" "Cisco Webex Identity" without WEBEX_IDENTITY_APP_ID: found by exact name, remembered in Table
storage, and still watched once deleted (recycle bin by the remembered appId, delta by its last
object id). Never seen and absent is not an incident; two apps with the name is a clear verdict;
a configured appId always wins."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import incidents

NAME_LOOKUP = "displayName eq 'Cisco Webex Identity'"


async def _svc() -> Any:
    from shared.app.runtime import get_services

    return await get_services()


async def _unset_identity_app_id(monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.app.runtime import reset_services
    from shared.core.settings import reset_settings

    monkeypatch.delenv("WEBEX_IDENTITY_APP_ID", raising=False)
    reset_settings()
    await reset_services()


async def _remembered() -> dict[str, Any]:
    from shared.checks.identity_app import STATE

    return (await (await _svc()).checkpoints().get_state(STATE)).values


def _verdict(report: Any, name: str = "graph.service_principal.identity") -> Any:
    return next(r for r in report.results if r.name == name)


async def _name_lookups(sim: Any) -> list[dict[str, Any]]:
    sps = await sim.requests(path="/servicePrincipals$", method="GET")
    return [r for r in sps if r["query"].get("$filter") == NAME_LOOKUP]


@pytest.mark.parametrize(("hard", "reason"), [(False, "changed"), (True, "deleted")])
async def test_identity_app_found_by_name_then_deleted_opens_identity_app_deleted(
    sim: Any, monkeypatch: pytest.MonkeyPatch, hard: bool, reason: str
) -> None:
    from shared.app.sweep import run_tick

    await _unset_identity_app_id(monkeypatch)
    state = await sim.state()
    app_id = state["config"]["identity_app_id"]
    sp_id = next(sp["id"] for sp in state["service_principals"] if sp["appId"] == app_id).lower()

    first = await run_tick(await (await _svc()).sweep_deps())
    assert first.health is not None
    check = _verdict(first.health.report)
    assert check.verdict == "healthy" and check.object_id == sp_id and "found by name" in check.evidence
    assert await _name_lookups(sim), "the appId was looked up by exact display name"
    remembered = await _remembered()
    assert (remembered["app_id"], remembered["object_id"]) == (app_id, sp_id)
    (delta,) = await sim.requests(path="/servicePrincipals/delta", method="GET")
    assert f"id eq '{sp_id}'" in delta["query"]["$filter"], "the Identity app's object id is tracked by delta"

    await sim.delete("identity", hard=hard, actor="mallory@contoso.example")
    await sim.clear_requests()
    second = await run_tick(await (await _svc()).sweep_deps())
    assert f"identity:{sp_id}:{reason}" in second.removed, "delta saw the removal of the last known object id"
    assert second.health is not None
    gone = _verdict(second.health.report)
    assert gone.verdict == "missing" and gone.soft_deleted is (not hard) and "remembered" in gone.evidence
    bin_reads = await sim.requests(path="/directory/deletedItems/", method="GET")
    assert any(app_id in r["query"].get("$filter", "") for r in bin_reads), "recycle bin read by the remembered appId"
    (inc,) = await incidents()
    assert (inc.kind, inc.app_key) == ("identity_app_deleted", "identity")
    assert {"health"} <= set(inc.sources)


async def test_never_seen_and_absent_is_not_configured_and_no_incident(
    sim: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.app.health_check import run_health_check

    await sim.delete("identity", hard=True)
    await _unset_identity_app_id(monkeypatch)
    outcome = await run_health_check(await (await _svc()).health_check_deps())
    check = _verdict(outcome.report)
    assert check.verdict == "not_configured" and "none seen before" in check.evidence
    assert await _name_lookups(sim), "the name was looked up before concluding"
    assert await _remembered() == {}
    assert await incidents() == []


async def test_two_apps_with_the_exact_name_is_ambiguous_not_a_guess(sim: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.app.health_check import run_health_check

    twin = await sim.add_service_principal("Cisco Webex Identity")  # the exact name: a second candidate
    await sim.add_service_principal("Cisco Webex Identity (old)")  # not the name: never considered
    await _unset_identity_app_id(monkeypatch)
    outcome = await run_health_check(await (await _svc()).health_check_deps())
    check = _verdict(outcome.report)
    original = (await sim.state())["config"]["identity_app_id"]
    assert check.verdict == "ambiguous" and not check.ok
    assert original in check.evidence and twin["appId"] in check.evidence and "WEBEX_IDENTITY_APP_ID" in check.evidence
    assert await _remembered() == {}
    assert await incidents() == []


async def test_configured_app_id_wins_over_name_and_memory(sim: Any) -> None:
    from shared.app.health_check import run_health_check
    from shared.checks.identity_app import STATE

    svc = await _svc()
    configured = svc.settings.webex_identity_app_id
    assert configured
    await svc.checkpoints().put_state(STATE, {"app_id": "11111111-2222-4333-8444-555555555555"}, None)
    await sim.add_service_principal("Cisco Webex Identity")  # would be ambiguous by name
    outcome = await run_health_check(await svc.health_check_deps())
    check = _verdict(outcome.report)
    assert check.verdict == "healthy" and check.app_id == configured
    assert await _name_lookups(sim) == [], "no name look-up when the appId is configured"
    by_app = await sim.requests(path="/servicePrincipals$", method="GET")
    assert any(f"appId eq '{configured}'" == r["query"].get("$filter") for r in by_app)


async def test_identity_app_found_by_name_is_auto_restored_after_deletion(
    sim: Any, monkeypatch: pytest.MonkeyPatch, services_env: dict[str, str], app_functions: dict[str, Any]
) -> None:
    """The incident comes from the audit record (matched by name, so it carries no appId); the
    remembered appId still finds the recycle-bin copy to restore."""
    from shared.app.health_check import run_health_check
    from tests.test_auto_restore import RESTORE_PATH, open_twice

    monkeypatch.setenv("AUTO_RESTORE", "true")
    await _unset_identity_app_id(monkeypatch)
    assert _verdict((await run_health_check(await (await _svc()).health_check_deps())).report).verdict == "healthy"
    app_id = (await sim.state())["config"]["identity_app_id"]
    records = await sim.delete("identity", actor="mallory@contoso.example")
    await open_twice(app_functions, records[0])
    assert len(await sim.requests(path=RESTORE_PATH, method="POST")) == 1
    assert any(sp["appId"] == app_id for sp in (await sim.state())["service_principals"])
    (inc,) = await incidents()
    assert inc.kind == "identity_app_deleted" and inc.app_id is None and inc.restore_outcome == "restored"


# ---------------------------------------------------------------- issue 15, point 1: the look-alike


async def _verify(svc: Any, inc: Any) -> Any:
    from shared.app.verification import run_verification
    from shared.clients.verify_queue import VerifyMessage

    return await run_verification(
        svc.verification_deps(), VerifyMessage(inc.tenant_id, inc.app_key, inc.incident_id, inc.verify_attempts)
    )


async def _pin_then_hard_delete(sim: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Any]:
    """The real app is found and pinned, then hard-deleted: an open ``identity_app_deleted``."""
    from shared.app.sweep import run_tick

    await _unset_identity_app_id(monkeypatch)
    app_id = (await sim.state())["config"]["identity_app_id"]
    assert _verdict((await run_tick(await (await _svc()).sweep_deps())).health.report).verdict == "healthy"
    assert (await _remembered())["app_id"] == app_id
    await sim.delete("identity", hard=True, actor="mallory@contoso.example")
    await run_tick(await (await _svc()).sweep_deps())
    (inc,) = await incidents()
    assert inc.kind == "identity_app_deleted" and inc.resolved_at is None
    return app_id, inc


async def test_lookalike_after_hard_delete_does_not_resolve_nor_replace_the_pin(
    sim: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Red-team scenario 1: the real app is hard-deleted, a user registers a look-alike with the
    exact name; verification must not resolve the incident, the pinned appId stays, and the
    admins get a warning naming the look-alike."""
    from shared.app.sweep import run_tick

    app_id, inc = await _pin_then_hard_delete(sim, monkeypatch)
    fake = await sim.add_service_principal("Cisco Webex Identity")
    outcome = await _verify(await _svc(), inc)
    assert outcome.outcome != "resolved"
    assert ("graph.service_principal.identity", "missing") in outcome.verdicts
    assert (await _remembered())["app_id"] == app_id, "the pin is never replaced by a new app with the name"
    await run_tick(await (await _svc()).sweep_deps())
    (still,) = await incidents()
    assert still.resolved_at is None and still.state != "resolved"
    assert (await _remembered())["app_id"] == app_id
    mails = (await sim.state())["sent_mails"]
    warned = [m for m in mails if fake["appId"] in str(m)]
    assert warned and "WEBEX_IDENTITY_APP_ID" in str(warned[0]), "the look-alike is a warning to the admins"
    assert not any("works again" in str(m) for m in mails)


async def test_auto_restore_never_restores_a_lookalike(
    sim: Any, monkeypatch: pytest.MonkeyPatch, services_env: dict[str, str], app_functions: dict[str, Any]
) -> None:
    """Red-team scenario 2: with AUTO_RESTORE, the look-alike appears after the real app's hard
    delete, a verification runs, then the look-alike is deleted: the app must not restore it (the
    pinned appId is the only one the restore looks for)."""
    from shared.app.sweep import run_tick
    from tests.test_auto_restore import RESTORE_PATH, open_twice

    monkeypatch.setenv("AUTO_RESTORE", "true")
    app_id, inc = await _pin_then_hard_delete(sim, monkeypatch)
    fake = await sim.add_service_principal("Cisco Webex Identity")
    await _verify(await _svc(), inc)
    await run_tick(await (await _svc()).sweep_deps())
    await sim.clear_requests()
    (record,) = await sim.delete("identity", actor="mallory@contoso.example", sp_id=fake["id"])
    await open_twice(app_functions, record)
    restores = await sim.requests(path=RESTORE_PATH, method="POST")
    assert all(fake["id"] not in r["path"] for r in restores), "the look-alike is not restored"
    assert not any(sp["appId"] == fake["appId"] for sp in (await sim.state())["service_principals"])
    assert (await _remembered())["app_id"] == app_id
    assert not any("restored automatically" in str(m).lower() for m in (await sim.state())["sent_mails"])


async def test_prevention_notes_never_written_into_a_lookalike(sim: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Red-team scenario 3: with PREVENTION_NOTES, the timer writes the note on the pinned app
    only, never on another app with the name."""
    from shared.app.sweep import run_tick

    monkeypatch.setenv("PREVENTION_NOTES", "true")
    await _pin_then_hard_delete(sim, monkeypatch)
    fake = await sim.add_service_principal("Cisco Webex Identity")
    await sim.clear_requests()
    await run_tick(await (await _svc()).sweep_deps())
    patches = await sim.requests(path=r"/servicePrincipals/[0-9a-fA-F-]{36}$", method="PATCH")
    assert all(fake["id"] not in p["path"] for p in patches), "no note written into the look-alike"
    notes = {sp["id"]: sp["notes"] for sp in (await sim.state())["service_principals"]}
    assert not notes[fake["id"]]


@pytest.mark.parametrize(
    "name",
    [
        "Ci\u017fco Webex Identity",  # LATIN SMALL LETTER LONG S: casefold() makes it "s"
        "\u3000Cisco Webex Identity\u3000",  # IDEOGRAPHIC SPACE padding: strip() removes it
        "Cisco Webex Identity ",
        "CISCO WEBEX IDENTITY",
        "Cisco Webex Identit\u0443",  # Cyrillic u
    ],
)
async def test_names_compare_exactly(sim: Any, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Only the exact ASCII name is a candidate: these look-alikes are not, so with the real app
    present the verdict stays healthy on the real appId (a match would make it ambiguous)."""
    from shared.app.health_check import run_health_check
    from shared.checks.identity_app import is_identity_name
    from shared.core.catalogue import Catalogue

    assert not is_identity_name(name)
    assert Catalogue().by_display_name(name) is None, "audit records naming the look-alike match no app"
    await sim.add_service_principal(name)
    await _unset_identity_app_id(monkeypatch)
    check = _verdict((await run_health_check(await (await _svc()).health_check_deps())).report)
    assert check.verdict == "healthy" and check.app_id == (await sim.state())["config"]["identity_app_id"]


@pytest.mark.parametrize(
    ("owner_org", "by_integration", "why"),
    [
        (None, False, "not owned by Cisco Webex Identity Integration"),  # a user registered it here
        ("other", True, "registered by another organization"),  # another org's multi-tenant app
    ],
)
async def test_first_discovery_pins_only_the_wizard_app(
    sim: Any, monkeypatch: pytest.MonkeyPatch, owner_org: str | None, by_integration: bool, why: str
) -> None:
    """Never pinned, the real app gone, and one app with the name that lacks the wizard app's
    marks: not watched, not pinned, an ``ambiguous`` verdict that says why — no incident."""
    from shared.app.health_check import run_health_check

    await sim.delete("identity", hard=True)
    other = "5e0f2b8a-3c1d-4f6e-9a7b-2c4d6e8f0a1b" if owner_org else None
    fake = await sim.add_service_principal("Cisco Webex Identity", owner_org=other, by_integration=by_integration)
    await _unset_identity_app_id(monkeypatch)
    check = _verdict((await run_health_check(await (await _svc()).health_check_deps())).report)
    assert check.verdict == "ambiguous" and why in check.evidence and fake["appId"] in check.evidence
    assert await _remembered() == {}
    assert await incidents() == []


async def test_first_discovery_pins_an_app_the_integration_created(sim: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The control: created in this tenant and owned by the Integration alone, it is pinned."""
    from shared.app.health_check import run_health_check

    await sim.delete("identity", hard=True)
    real = await sim.add_service_principal("Cisco Webex Identity", by_integration=True)
    await _unset_identity_app_id(monkeypatch)
    check = _verdict((await run_health_check(await (await _svc()).health_check_deps())).report)
    assert check.verdict == "healthy" and check.app_id == real["appId"].lower()
    assert (await _remembered())["app_id"] == real["appId"].lower()
    owners = await sim.requests(path=r"/servicePrincipals/[0-9a-fA-F-]{36}/owners$", method="GET")
    assert owners, "the owners were read before pinning"


async def test_deleting_a_lookalike_opens_no_incident_once_pinned(
    sim: Any, monkeypatch: pytest.MonkeyPatch, app_functions: dict[str, Any]
) -> None:
    """A user who registers and deletes look-alikes cannot make the admins chase a deleted
    "Identity app": records about another appId than the pinned one are not the Identity app."""
    from shared.app.health_check import run_health_check
    from tests.helpers import eventgrid_event, run_intake

    await _unset_identity_app_id(monkeypatch)
    assert _verdict((await run_health_check(await (await _svc()).health_check_deps())).report).verdict == "healthy"
    fake = await sim.add_service_principal("Cisco Webex Identity")
    (record,) = await sim.delete("identity", actor="mallory@contoso.example", sp_id=fake["id"])
    await app_functions["eventgrid_audit"].get_user_function()(eventgrid_event(record))
    await run_intake(app_functions)
    assert await incidents() == []
    real = await sim.delete("identity", actor="mallory@contoso.example")
    await app_functions["eventgrid_audit"].get_user_function()(eventgrid_event(real[0]))
    await run_intake(app_functions)
    assert [i.kind for i in await incidents()] == ["identity_app_deleted"], "the control: the pinned app's deletion"
