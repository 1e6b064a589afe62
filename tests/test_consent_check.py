"""The consent check reads both kinds of consent the integration can hold: the admin-consent
(AllPrincipals) delegated grant and the application permissions (app role assignments) granted to
its service principal. ``consent_missing`` only when neither is there."""

from __future__ import annotations

from typing import Any

from shared.core.catalogue import INTEGRATION_APP_ID

USER_READ_ALL = "df021288-bdef-4463-88db-98f22de89214"


async def _svc() -> Any:
    from shared.app.runtime import get_services

    return await get_services()


async def _grant_check() -> Any:
    from shared.checks.graph import check_consent_grant

    svc = await _svc()
    return await check_consent_grant(await svc.graph(), svc.settings.catalogue.integration)


async def _integration_sp_id(sim: Any) -> str:
    return str(next(sp["id"] for sp in (await sim.state())["service_principals"] if sp["appId"] == INTEGRATION_APP_ID))


async def test_app_role_assignments_are_read_and_reported(sim: Any) -> None:
    sp_id = await _integration_sp_id(sim)
    plain = await _grant_check()
    assert plain.verdict == "healthy" and "admin consent present" in plain.evidence
    assert "no application permissions" in plain.evidence, "the simulator's integration holds none by default"
    (call,) = await sim.requests(path=f"/servicePrincipals/{sp_id}/appRoleAssignments$", method="GET")
    assert call["path"].endswith(f"/servicePrincipals/{sp_id}/appRoleAssignments")

    await sim.assign_app_role("integration", USER_READ_ALL)
    both = await _grant_check()
    assert both.verdict == "healthy"
    assert f"1 application permission(s) granted (Microsoft Graph: {USER_READ_ALL})" in both.evidence


async def test_an_app_role_alone_is_consent_and_neither_is_consent_missing(sim: Any) -> None:
    await sim.revoke()
    missing = await _grant_check()
    assert missing.verdict == "consent_missing"
    assert "no admin-consent (AllPrincipals) delegated grant" in missing.evidence
    assert "no application permissions" in missing.evidence

    await sim.assign_app_role("integration")
    held = await _grant_check()
    assert held.verdict == "healthy", "application permissions granted to the integration are consent too"
    assert "no admin-consent (AllPrincipals) delegated grant" in held.evidence


async def test_forbidden_app_roles_are_noted_and_the_grants_decide(sim: Any) -> None:
    await sim.add_fault("/appRoleAssignments$", status=403, times=None)
    ok = await _grant_check()
    assert ok.verdict == "healthy" and "Application.Read.All" in ok.evidence
    await sim.revoke()
    gone = await _grant_check()
    assert gone.verdict == "consent_missing" and "app role assignments unreadable" in gone.evidence


async def test_simulator_app_role_assignments_follow_the_service_principal(sim: Any) -> None:
    graph = await (await _svc()).graph()
    sp_id = await _integration_sp_id(sim)
    assert await graph.app_role_assignments(sp_id) == []
    assigned = await sim.assign_app_role("integration", USER_READ_ALL)
    (role,) = await graph.app_role_assignments(sp_id)
    assert (role.id, role.app_role_id, role.resource_display_name) == (assigned["id"], USER_READ_ALL, "Microsoft Graph")
    records = (await sim.state())["audit_records"]
    assert records[-1]["activityDisplayName"] == "Add app role assignment to service principal"

    await sim.delete("integration")
    assert (await sim.state())["app_role_assignments"] == [], "they go to the recycle bin with the SP"
    await sim.restore("integration")
    assert [r.id for r in await graph.app_role_assignments(sp_id)] == [assigned["id"]], "restore brings them back"
