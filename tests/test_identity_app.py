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
    from shared.runtime import get_services

    return await get_services()


async def _unset_identity_app_id(monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.config import reset_settings
    from shared.runtime import reset_services

    monkeypatch.delenv("WEBEX_IDENTITY_APP_ID", raising=False)
    reset_settings()
    await reset_services()


async def _remembered() -> dict[str, Any]:
    from shared.identity_app import STATE

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
    from shared.safety_net import run_tick

    await _unset_identity_app_id(monkeypatch)
    state = await sim.state()
    app_id = state["config"]["identity_app_id"]
    sp_id = next(sp["id"] for sp in state["service_principals"] if sp["appId"] == app_id).lower()

    first = await run_tick(await _svc())
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
    second = await run_tick(await _svc())
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
    from shared.health import run_health_check

    await sim.delete("identity", hard=True)
    await _unset_identity_app_id(monkeypatch)
    outcome = await run_health_check(await _svc())
    check = _verdict(outcome.report)
    assert check.verdict == "not_configured" and "none seen before" in check.evidence
    assert await _name_lookups(sim), "the name was looked up before concluding"
    assert await _remembered() == {}
    assert await incidents() == []


async def test_two_apps_with_the_exact_name_is_ambiguous_not_a_guess(sim: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.health import run_health_check

    twin = await sim.add_service_principal("CISCO WEBEX IDENTITY")  # exact name, other casing: a match
    await sim.add_service_principal("Cisco Webex Identity (old)")  # not the name: never considered
    await _unset_identity_app_id(monkeypatch)
    outcome = await run_health_check(await _svc())
    check = _verdict(outcome.report)
    original = (await sim.state())["config"]["identity_app_id"]
    assert check.verdict == "ambiguous" and not check.ok
    assert original in check.evidence and twin["appId"] in check.evidence and "WEBEX_IDENTITY_APP_ID" in check.evidence
    assert await _remembered() == {}
    assert await incidents() == []


async def test_configured_app_id_wins_over_name_and_memory(sim: Any) -> None:
    from shared.health import run_health_check
    from shared.identity_app import STATE

    svc = await _svc()
    configured = svc.settings.webex_identity_app_id
    assert configured
    await svc.checkpoints().put_state(STATE, {"app_id": "11111111-2222-4333-8444-555555555555"}, None)
    await sim.add_service_principal("Cisco Webex Identity")  # would be ambiguous by name
    outcome = await run_health_check(svc)
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
    from shared.health import run_health_check
    from tests.test_auto_restore import RESTORE_PATH, open_twice

    monkeypatch.setenv("AUTO_RESTORE", "true")
    await _unset_identity_app_id(monkeypatch)
    assert _verdict((await run_health_check(await _svc())).report).verdict == "healthy"
    app_id = (await sim.state())["config"]["identity_app_id"]
    records = await sim.delete("identity", actor="mallory@contoso.example")
    await open_twice(app_functions, records[0])
    assert len(await sim.requests(path=RESTORE_PATH, method="POST")) == 1
    assert any(sp["appId"] == app_id for sp in (await sim.state())["service_principals"])
    (inc,) = await incidents()
    assert inc.kind == "identity_app_deleted" and inc.app_id is None and inc.restore_outcome == "restored"
