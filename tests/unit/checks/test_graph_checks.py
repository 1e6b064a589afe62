"""Every verdict of the Graph checks (service principal, consent grant), with fakes: literal values."""

from __future__ import annotations

from shared.checks.graph import check_consent_grant, check_service_principal
from shared.clients.graph import DeletedServicePrincipal
from shared.core.catalogue import INTEGRATION, INTEGRATION_APP_ID
from shared.core.errors import UpstreamError
from tests.unit.checks.fakes import (
    IDENTITY_APP_ID,
    WHEN,
    FakeGraph,
    FakeState,
    admin_grant,
    clients,
    forbidden,
    role,
    settings,
    sp,
    throttled,
)


async def test_present_and_enabled_is_healthy() -> None:
    g = FakeGraph()
    g.by_app_id[INTEGRATION_APP_ID] = [sp(INTEGRATION_APP_ID, "sp-int", notes="keep")]
    r = await check_service_principal(clients(graph=g), INTEGRATION)
    assert (r.name, r.verdict, r.evidence) == (
        "graph.service_principal.integration",
        "healthy",
        "Cisco Webex Identity Integration present (sp-int), enabled",
    )
    assert (r.app_key, r.object_id, r.notes, r.app_id, r.owed) == (
        "integration",
        "sp-int",
        "keep",
        INTEGRATION_APP_ID,
        (),
    )
    assert g.calls == [f"by_app_id {INTEGRATION_APP_ID}"], "no recycle-bin read when present"


async def test_account_disabled_is_disabled() -> None:
    g = FakeGraph()
    g.by_app_id[INTEGRATION_APP_ID] = [sp(INTEGRATION_APP_ID, "sp-int", enabled=False)]
    r = await check_service_principal(clients(graph=g), INTEGRATION)
    assert (r.verdict, r.evidence, r.object_id) == (
        "disabled",
        "Cisco Webex Identity Integration (sp-int) is disabled (accountEnabled=false)",
        "sp-int",
    )


async def test_unknown_enabled_state_counts_as_present() -> None:
    g = FakeGraph()
    g.by_app_id[INTEGRATION_APP_ID] = [sp(INTEGRATION_APP_ID, "sp-int", enabled=None)]
    assert (await check_service_principal(clients(graph=g), INTEGRATION)).verdict == "healthy"


async def test_in_the_recycle_bin_is_a_soft_delete() -> None:
    g = FakeGraph()
    g.deleted[INTEGRATION_APP_ID] = [DeletedServicePrincipal("del-1", INTEGRATION_APP_ID, "x", WHEN)]
    r = await check_service_principal(clients(graph=g), INTEGRATION)
    assert (r.verdict, r.evidence, r.object_id, r.soft_deleted) == (
        "missing",
        "Cisco Webex Identity Integration deleted at 2026-11-29T08:30:15.001234Z; in the recycle bin (del-1), "
        "restorable for 30 days",
        "del-1",
        True,
    )


async def test_recycle_bin_entry_without_a_time() -> None:
    g = FakeGraph()
    g.deleted[INTEGRATION_APP_ID] = [DeletedServicePrincipal("del-1", INTEGRATION_APP_ID, "x", None)]
    r = await check_service_principal(clients(graph=g), INTEGRATION)
    assert r.evidence.startswith("Cisco Webex Identity Integration deleted at unknown time;")


async def test_gone_from_the_recycle_bin_is_a_hard_delete() -> None:
    r = await check_service_principal(clients(graph=FakeGraph()), INTEGRATION)
    assert (r.verdict, r.evidence, r.object_id, r.soft_deleted) == (
        "missing",
        "Cisco Webex Identity Integration not found and not in the recycle bin (hard-deleted)",
        None,
        False,
    )


async def test_throttled_graph_is_degraded_with_its_retry_after() -> None:
    g = FakeGraph()
    g.by_app_id[INTEGRATION_APP_ID] = throttled()
    r = await check_service_principal(clients(graph=g), INTEGRATION)
    assert (r.verdict, r.evidence, r.retry_after) == ("degraded", "Graph: Graph answered 429", 30.0)


async def test_a_graph_error_is_error() -> None:
    g = FakeGraph()
    g.deleted[INTEGRATION_APP_ID] = UpstreamError("Graph answered 400 BadRequest", status=400)
    r = await check_service_principal(clients(graph=g), INTEGRATION)
    assert (r.verdict, r.evidence) == ("error", "Graph: Graph answered 400 BadRequest")


async def test_identity_app_without_an_app_id_or_a_named_app_is_not_configured() -> None:
    cfg = settings(identity_app_id=None)
    r = await check_service_principal(clients(cfg=cfg), cfg.catalogue.identity)
    assert (r.verdict, r.evidence, r.app_id) == (
        "not_configured",
        "Cisco Webex Identity: no app named 'Cisco Webex Identity' and none seen before; set "
        "WEBEX_IDENTITY_APP_ID to watch it",
        None,
    )


async def test_identity_app_with_two_named_apps_is_ambiguous() -> None:
    cfg = settings(identity_app_id=None)
    g = FakeGraph()
    g.by_name = [sp("aaaaaaaa-2222-4333-8444-555555555555", "s1", name="Cisco Webex Identity"),
                 sp("bbbbbbbb-2222-4333-8444-555555555555", "s2", name="Cisco Webex Identity")]  # fmt: skip
    r = await check_service_principal(clients(cfg=cfg, graph=g), cfg.catalogue.identity)
    assert r.verdict == "ambiguous"
    assert r.evidence.startswith("Cisco Webex Identity: 2 apps are named exactly 'Cisco Webex Identity'")


async def test_identity_app_found_by_its_pin_says_how() -> None:
    cfg = settings(identity_app_id=None)
    g = FakeGraph()
    g.by_name = [sp(IDENTITY_APP_ID, "sp-id", name="Cisco Webex Identity")]
    state = FakeState(**{"identity-app": {"app_id": IDENTITY_APP_ID, "object_id": "sp-id"}})
    r = await check_service_principal(clients(cfg=cfg, graph=g, state=state), cfg.catalogue.identity)
    assert (r.verdict, r.evidence, r.app_id, r.object_id) == (
        "healthy",
        f"Cisco Webex Identity present (sp-id), enabled [appId {IDENTITY_APP_ID} found by name (pinned)]",
        IDENTITY_APP_ID,
        "sp-id",
    )
    assert g.calls == ["by_name Cisco Webex Identity"], "the by-name answer saves the by-appId call"


async def test_identity_app_remembered_but_deleted_reads_the_recycle_bin() -> None:
    cfg = settings(identity_app_id=None)
    g = FakeGraph()
    state = FakeState(**{"identity-app": {"app_id": IDENTITY_APP_ID, "seen_at": "2026-11-01T00:00:00Z"}})
    r = await check_service_principal(clients(cfg=cfg, graph=g, state=state), cfg.catalogue.identity)
    assert (r.verdict, r.soft_deleted, r.app_id) == ("missing", False, IDENTITY_APP_ID)
    assert g.calls[-2:] == [f"by_app_id {IDENTITY_APP_ID}", f"deleted {IDENTITY_APP_ID}"]


async def test_a_lookalike_beside_the_pinned_app_is_owed_a_warning_not_sent() -> None:
    cfg = settings(identity_app_id=None)
    other = "cccccccc-2222-4333-8444-555555555555"
    g = FakeGraph()
    g.by_name = [sp(IDENTITY_APP_ID, "sp-id", name="Cisco Webex Identity"),
                 sp(other, "SP-OTHER", name="Cisco Webex Identity")]  # fmt: skip
    state = FakeState(**{"identity-app": {"app_id": IDENTITY_APP_ID, "object_id": "sp-id"}})
    r = await check_service_principal(clients(cfg=cfg, graph=g, state=state), cfg.catalogue.identity)
    assert r.verdict == "healthy"
    (owed,) = r.owed
    assert (owed.kind, owed.once_key, owed.title) == (
        "identity_app_lookalike",
        f"identity-lookalike:{other}",
        "Another app named 'Cisco Webex Identity' appeared in the tenant",
    )
    assert owed.lines == (
        f"appId {other}, object id sp-other: it is not the pinned Identity app.",
        f"The app watched stays appId {IDENTITY_APP_ID}.",
        "If someone registered it, check why (a look-alike of the Webex app). If Control Hub's wizard created it, "
        f"set the app setting WEBEX_IDENTITY_APP_ID to {other}.",
    )


# ------------------------------------------------------------------ consent grant


def _integration_graph() -> FakeGraph:
    g = FakeGraph()
    g.by_app_id[INTEGRATION_APP_ID] = [sp(INTEGRATION_APP_ID, "sp-int")]
    return g


async def test_admin_consent_grant_is_healthy() -> None:
    g = _integration_graph()
    g.grants = [admin_grant("User.Read Directory.Read.All"), admin_grant("User.Read")]
    r = await check_consent_grant(g, INTEGRATION)
    assert (r.name, r.verdict, r.object_id) == ("graph.consent_grant.integration", "healthy", "sp-int")
    assert r.evidence == (
        "Cisco Webex Identity Integration (sp-int): admin consent present (2 grant(s); scopes: Directory.Read.All "
        "User.Read); no application permissions (app role assignments)"
    )


async def test_application_permissions_alone_are_consent() -> None:
    g = _integration_graph()
    g.roles = [role("r2", "Microsoft Graph"), role("r1", "Microsoft Graph"), role("r3", None)]
    r = await check_consent_grant(g, INTEGRATION)
    assert r.verdict == "healthy"
    assert r.evidence == (
        "Cisco Webex Identity Integration (sp-int): no admin-consent (AllPrincipals) delegated grant; 3 application "
        "permission(s) granted (Microsoft Graph: r1, r2; res-1: r3)"
    )


async def test_a_single_user_grant_is_not_admin_consent() -> None:
    from shared.clients.graph import PermissionGrant

    g = _integration_graph()
    g.grants = [PermissionGrant("g2", "Principal", "User.Read", "res-1")]
    r = await check_consent_grant(g, INTEGRATION)
    assert (r.verdict, r.object_id) == ("consent_missing", "sp-int")
    assert r.evidence == (
        "Cisco Webex Identity Integration (sp-int): no admin-consent (AllPrincipals) delegated grant; "
        "no application permissions (app role assignments)"
    )


async def test_admin_grant_without_scopes_says_none() -> None:
    g = _integration_graph()
    g.grants = [admin_grant("")]
    r = await check_consent_grant(g, INTEGRATION)
    assert "admin consent present (1 grant(s); scopes: none)" in r.evidence


async def test_grants_unreadable_and_no_roles_is_not_configured() -> None:
    g = _integration_graph()
    g.grants = forbidden()
    r = await check_consent_grant(g, INTEGRATION)
    assert (r.verdict, r.object_id) == ("not_configured", None)
    assert r.evidence == (
        "Cisco Webex Identity Integration (sp-int): delegated grants unreadable (Graph 403: needs Directory.Read.All "
        "(application) on Microsoft Graph); no application permissions (app role assignments); check skipped"
    )


async def test_roles_unreadable_with_an_admin_grant_is_healthy() -> None:
    g = _integration_graph()
    g.grants = [admin_grant("User.Read")]
    g.roles = forbidden()
    r = await check_consent_grant(g, INTEGRATION)
    assert r.verdict == "healthy"
    assert r.evidence.endswith(
        "app role assignments unreadable (Graph 403: needs Application.Read.All (application) on Microsoft Graph)"
    )


async def test_both_unreadable_is_not_configured() -> None:
    g = _integration_graph()
    g.grants = forbidden()
    g.roles = forbidden()
    assert (await check_consent_grant(g, INTEGRATION)).verdict == "not_configured"


async def test_no_service_principal_means_no_grant() -> None:
    r = await check_consent_grant(FakeGraph(), INTEGRATION)
    assert (r.verdict, r.evidence) == (
        "missing",
        "Cisco Webex Identity Integration has no service principal, so no consent grant",
    )


async def test_throttled_grant_read_is_degraded() -> None:
    g = _integration_graph()
    g.grants = throttled()
    r = await check_consent_grant(g, INTEGRATION)
    assert (r.verdict, r.evidence, r.retry_after) == ("degraded", "Graph: Graph answered 429", 30.0)


async def test_a_grant_read_error_other_than_403_is_error() -> None:
    g = _integration_graph()
    g.roles = UpstreamError("Graph answered 500", status=500)
    r = await check_consent_grant(g, INTEGRATION)
    assert (r.verdict, r.evidence) == ("error", "Graph: Graph answered 500")
