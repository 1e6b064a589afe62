"""The Identity app's look-up by name (pin, race, wizard marks) and the prevention note, with fakes."""

from __future__ import annotations

from typing import Any

import pytest

from shared.checks.identity_app import resolve_identity_app, tenant_guid, wizard_mismatch
from shared.checks.prevention import MARKER, NOTE, ensure_notes
from shared.checks.report import CheckResult, HealthReport
from shared.core.catalogue import INTEGRATION_APP_ID
from shared.core.errors import TransientError, UpstreamError
from tests.unit.checks.fakes import IDENTITY_APP_ID, TENANT, FakeGraph, FakeState, settings, sp

NAME = "Cisco Webex Identity"


def _wizard_made(graph: FakeGraph, sp_id: str = "sp-id", app_id: str = IDENTITY_APP_ID) -> None:
    graph.by_name = [sp(app_id, sp_id, name=NAME, app_owner_organization_id=TENANT.upper())]
    graph.owners[sp_id] = ([INTEGRATION_APP_ID], 0)


async def test_a_configured_app_id_wins_without_a_lookup() -> None:
    g = FakeGraph()
    r = await resolve_identity_app(settings(), g, FakeState())
    assert (r.how, r.evidence, r.app is not None and r.app.app_id) == (
        "setting",
        f"appId {IDENTITY_APP_ID} (WEBEX_IDENTITY_APP_ID)",
        IDENTITY_APP_ID,
    )
    assert g.calls == []


async def test_the_wizards_app_is_pinned() -> None:
    g = FakeGraph()
    _wizard_made(g)
    state = FakeState()
    r = await resolve_identity_app(settings(identity_app_id=None), g, state)
    assert (r.how, r.evidence, r.owed) == ("name", f"appId {IDENTITY_APP_ID} found by name and pinned", ())
    ((row, values),) = state.puts
    assert (row, values["app_id"], values["object_id"]) == ("identity-app", IDENTITY_APP_ID, "sp-id")


async def test_losing_the_pin_race_uses_the_winners_pin() -> None:
    g = FakeGraph()
    _wizard_made(g)
    state = FakeState()
    state.race = True
    r = await resolve_identity_app(settings(identity_app_id=None), g, state)
    assert r.how == "remembered", "the other run pinned another appId; ours is only reported"
    assert r.app is not None and r.app.app_id == "99999999-2222-4333-8444-555555555555"
    assert [o.once_key for o in r.owed] == [f"identity-lookalike:{IDENTITY_APP_ID}"]


@pytest.mark.parametrize(
    ("owner_org", "owners", "why"),
    [
        (None, ([INTEGRATION_APP_ID], 0),
         "Graph did not say which organization registered it (appOwnerOrganizationId)"),
        ("aaaaaaaa-0000-4000-8000-000000000000", ([INTEGRATION_APP_ID], 0),
         "it is registered by another organization (aaaaaaaa-0000-4000-8000-000000000000), not created in this tenant"),
        (TENANT, ([], 1), "it is not owned by Cisco Webex Identity Integration (the wizard's app, which creates it)"),
        (TENANT, ([INTEGRATION_APP_ID], 1), "it has owners besides Cisco Webex Identity Integration"),
        (TENANT, ([INTEGRATION_APP_ID, "x"], 0), "it has owners besides Cisco Webex Identity Integration"),
        (TENANT, ([INTEGRATION_APP_ID], 0), None),
    ],
)  # fmt: skip
async def test_the_wizards_marks(owner_org: str | None, owners: tuple[list[str], int], why: str | None) -> None:
    g = FakeGraph()
    g.owners["sp-x"] = owners
    candidate = sp(IDENTITY_APP_ID, "sp-x", name=NAME, app_owner_organization_id=owner_org)
    assert await wizard_mismatch(g, TENANT, candidate) == why


async def test_no_tenant_guid_is_never_this_tenant() -> None:
    candidate = sp(IDENTITY_APP_ID, "sp-x", name=NAME, app_owner_organization_id=TENANT)
    assert await wizard_mismatch(FakeGraph(), None, candidate) == (
        f"it is registered by another organization ({TENANT}), not created in this tenant"
    )
    assert tenant_guid(settings()) == TENANT
    assert tenant_guid(settings(tenant_id="contoso.onmicrosoft.com")) is None


async def test_an_unmarked_namesake_is_unverified_and_owes_a_warning() -> None:
    g = FakeGraph()
    g.by_name = [sp(IDENTITY_APP_ID, "SP-X", name=NAME, app_owner_organization_id=TENANT)]
    state = FakeState()
    r = await resolve_identity_app(settings(identity_app_id=None), g, state)
    assert (r.app, r.how) == (None, "unverified")
    assert r.evidence == (
        f"an app named '{NAME}' exists (appId {IDENTITY_APP_ID}) but it is not owned by Cisco Webex Identity "
        "Integration (the wizard's app, which creates it), so it is not taken for the app Control Hub's wizard "
        "creates; if it is, set WEBEX_IDENTITY_APP_ID to its appId"
    )
    (owed,) = r.owed
    assert owed.lines[:2] == (
        f"appId {IDENTITY_APP_ID}, object id sp-x: it is not owned by Cisco Webex Identity Integration (the "
        "wizard's app, which creates it).",
        "No Identity app is watched until then.",
    )
    assert state.puts == [], "nothing pinned"


async def test_a_name_that_differs_by_one_code_point_is_another_name() -> None:
    g = FakeGraph()
    g.by_name = [sp(IDENTITY_APP_ID, "sp-x", name="Ciſco Webex Identity"), sp(IDENTITY_APP_ID, "sp-y", name=NAME + " ")]
    r = await resolve_identity_app(settings(identity_app_id=None), g, FakeState())
    assert r.how == "unknown"


async def test_the_pinned_app_seen_under_a_new_object_id_updates_the_row() -> None:
    g = FakeGraph()
    g.by_name = [sp(IDENTITY_APP_ID, "SP-NEW", name=NAME)]
    state = FakeState(**{"identity-app": {"app_id": IDENTITY_APP_ID, "object_id": "sp-old"}})
    r = await resolve_identity_app(settings(identity_app_id=None), g, state)
    assert (r.how, r.owed) == ("pinned", ())
    ((_, values),) = state.puts
    assert values["object_id"] == "sp-new"


# ------------------------------------------------------------------ prevention


class Writer:
    def __init__(self, fail: Exception | None = None) -> None:
        self.written: list[tuple[str, str]] = []
        self.fail = fail

    async def update_notes(self, object_id: str, notes: str) -> None:
        if self.fail is not None:
            raise self.fail
        self.written.append((object_id, notes))


def _sp_result(verdict: str, notes: str | None, object_id: str | None = "sp-1", key: str = "integration") -> Any:
    return CheckResult(f"graph.service_principal.{key}", verdict, "e", 0.0, app_key=key, object_id=object_id,
                       notes=notes)  # fmt: skip


async def test_prevention_outcomes() -> None:
    report = HealthReport([
        _sp_result("healthy", "admin text", "sp-1", "integration"),
        _sp_result("disabled", f"x {MARKER.upper()} y", "sp-2", "identity"),
        _sp_result("missing", None, "del-1", "other"),
        _sp_result("healthy", None, None, "noid"),
        CheckResult("webex.scim", "healthy", "e", 0.0, app_key="integration", object_id="z"),
    ])  # fmt: skip
    writer = Writer()
    outcomes = await ensure_notes(writer, report)
    assert [(o.app_key, o.object_id, o.outcome) for o in outcomes] == [
        ("integration", "sp-1", "written"),
        ("identity", "sp-2", "present"),
    ]
    assert writer.written == [("sp-1", f"admin text\n\n{NOTE}")]


async def test_prevention_leaves_long_notes_and_survives_failures() -> None:
    long = _sp_result("healthy", "x" * 1000, "sp-1")
    assert [o.outcome for o in await ensure_notes(Writer(), HealthReport([long]))] == ["too_long"]
    for exc in (TransientError("429"), UpstreamError("403", status=403)):
        outcomes = await ensure_notes(Writer(exc), HealthReport([_sp_result("healthy", None)]))
        assert [o.outcome for o in outcomes] == ["failed"]
