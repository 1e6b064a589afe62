"""Which appId "Cisco Webex Identity" has in this tenant when ``WEBEX_IDENTITY_APP_ID`` is not set.

The Control Hub wizard creates this app in each tenant, so its appId is not known in advance and
the deployment leaves the setting empty by default. Without an appId nothing could be watched: no
presence check, no recycle-bin look-up, no delta. But any user may register an app with that name
(Entra's default), so the name alone must never decide which app is watched (docs/security.md,
point 1). When the setting is empty:

1. Graph is asked for ``servicePrincipals?$filter=displayName eq 'Cisco Webex Identity'`` and only
   names equal **byte for byte** are kept (no trimming, no case folding: "Ciſco Webex Identity"
   with U+017F, or a name padded with U+3000, is another name).
2. Not pinned yet, exactly one such app, and it carries the marks of the app the wizard creates
   (:func:`wizard_mismatch`: registered in THIS tenant — ``appOwnerOrganizationId`` equals the
   tenant GUID — and owned by the "Cisco Webex Identity Integration" service principal alone, which
   creates it with "Manage apps that this app creates or owns") → its appId is **pinned** in a state
   row beside the incidents (``state-identity-app``: appId, last object id, when seen/pinned).
3. Once pinned, the appId is never replaced by this module: the pinned app is what the checks,
   the recycle-bin look-up, the restore and the prevention note use, present or deleted. Another
   app with the name (a look-alike, or a wizard re-run) is a warning to the admins — naming its
   appId and how to adopt it (``WEBEX_IDENTITY_APP_ID``) — never the Identity app.
4. One candidate without the marks → ``unverified`` (a warning, nothing watched); two or more →
   ``ambiguous``; none and never pinned → ``not_configured`` (no incident).

A configured setting always wins: no name look-up is made and the row is not read.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from shared.checks.report import NoticeOwed
from shared.core.catalogue import IDENTITY_APP_NAME, WebexApp, is_guid
from shared.core.clock import clock, format_timestamp

if TYPE_CHECKING:
    from shared.checks.deps import GraphReader, StateRows
    from shared.clients.checkpoints import StateRow
    from shared.clients.graph import ServicePrincipal
    from shared.core.settings import Settings

STATE = "identity-app"


@dataclass(frozen=True, slots=True)
class IdentityResolution:
    """``app`` carries the appId to watch (``None``: nothing to watch); ``how`` is ``setting``,
    ``name`` (just pinned), ``pinned``, ``remembered``, ``ambiguous``, ``unverified`` or ``unknown``;
    ``present`` is the SP the name look-up found (it saves the by-appId call); ``owed`` are the
    warnings to the admins about look-alikes (sent by the app layer, never from here)."""

    app: WebexApp | None
    how: str
    evidence: str
    present: ServicePrincipal | None = None
    owed: tuple[NoticeOwed, ...] = ()


def is_identity_name(name: str | None) -> bool:
    """The name compared exactly, code point for code point (the name is ASCII, so byte for byte)."""
    return name == IDENTITY_APP_NAME


async def resolve_identity_app(settings: Settings, graph: GraphReader, state_rows: StateRows) -> IdentityResolution:
    """See the module docstring. Raises the Graph/Table errors (transient or not) to the caller,
    which turns them into a ``degraded``/``error`` verdict."""
    app = settings.catalogue.identity
    if app.app_id:
        return IdentityResolution(app, "setting", f"appId {app.app_id} (WEBEX_IDENTITY_APP_ID)")
    found = await graph.service_principals_by_display_name(IDENTITY_APP_NAME)
    named = [sp for sp in found if is_identity_name(sp.display_name)]
    state = await state_rows.get_state(STATE)
    pinned = str(state.values.get("app_id") or "").lower()
    if is_guid(pinned):
        return await _pinned(state_rows, replace(app, app_id=pinned), named, state)
    app_ids = sorted({sp.app_id.lower() for sp in named})
    if len(app_ids) > 1:
        return IdentityResolution(
            None,
            "ambiguous",
            f"{len(app_ids)} apps are named exactly '{IDENTITY_APP_NAME}' (appIds {', '.join(app_ids)}); "
            "set WEBEX_IDENTITY_APP_ID to the one Control Hub created",
        )
    if not app_ids:
        return IdentityResolution(
            None,
            "unknown",
            f"no app named '{IDENTITY_APP_NAME}' and none seen before; set WEBEX_IDENTITY_APP_ID to watch it",
        )
    sp = named[0]
    why = await wizard_mismatch(graph, tenant_guid(settings), sp)
    if why is not None:
        return IdentityResolution(
            None,
            "unverified",
            f"an app named '{IDENTITY_APP_NAME}' exists (appId {app_ids[0]}) but {why}, so it is not taken for "
            "the app Control Hub's wizard creates; if it is, set WEBEX_IDENTITY_APP_ID to its appId",
            owed=lookalike_warnings(None, [sp], why),
        )
    now = format_timestamp(clock.now())
    values = {"app_id": app_ids[0], "object_id": sp.id.lower(), "seen_at": now, "pinned_at": now}
    if await state_rows.put_state(STATE, values, state.etag) is None:  # another run pinned first: use its pin
        return await resolve_identity_app(settings, graph, state_rows)
    return IdentityResolution(
        replace(app, app_id=app_ids[0]), "name", f"appId {app_ids[0]} found by name and pinned", sp
    )


def tenant_guid(settings: Settings) -> str | None:
    """``TENANT_ID`` lower-cased when it is a GUID (a domain is resolved to one at start-up)."""
    tenant = settings.tenant_id
    return tenant.lower() if is_guid(tenant) else None


async def wizard_mismatch(graph: GraphReader, tenant: str | None, sp: ServicePrincipal) -> str | None:
    """Why ``sp`` is not the app Control Hub's wizard creates (``None``: it carries its marks).

    The wizard's "Cisco Webex Identity Integration" (a multi-tenant app of Cisco's) creates the
    Identity app IN the customer's tenant with "Manage apps that this app creates or owns", which
    makes the Integration its owner; hence a different appId per tenant. So the app must be
    registered in this tenant (a look-alike consented to from another organization is not) and be
    owned by the Integration's service principal alone (one a user registers is owned by the user).
    """
    from shared.core.catalogue import INTEGRATION_APP_ID

    owner_org = (sp.app_owner_organization_id or "").lower()
    if not is_guid(owner_org):
        return "Graph did not say which organization registered it (appOwnerOrganizationId)"
    if tenant is None or owner_org != tenant:
        return f"it is registered by another organization ({owner_org}), not created in this tenant"
    owner_apps, others = await graph.service_principal_owner_app_ids(sp.id)
    if INTEGRATION_APP_ID not in owner_apps:
        return "it is not owned by Cisco Webex Identity Integration (the wizard's app, which creates it)"
    if others or len(owner_apps) > 1:
        return "it has owners besides Cisco Webex Identity Integration"
    return None


async def _pinned(
    state_rows: StateRows, app: WebexApp, named: list[ServicePrincipal], state: StateRow
) -> IdentityResolution:
    """The pinned app, present (by name) or not; any other app with the name is only reported."""
    pinned = str(app.app_id)
    present = next((sp for sp in named if sp.app_id.lower() == pinned), None)
    others = [sp for sp in named if sp.app_id.lower() != pinned]
    owed = lookalike_warnings(pinned, others, "it is not the pinned Identity app")
    if present is not None:
        if state.values.get("object_id") != present.id.lower():
            values = {**state.values, "object_id": present.id.lower(), "seen_at": format_timestamp(clock.now())}
            await state_rows.put_state(STATE, values, state.etag)  # None: another run wrote it first
        return IdentityResolution(app, "pinned", f"appId {pinned} found by name (pinned)", present, owed)
    seen = state.values.get("seen_at") or "an earlier run"
    extra = f"; {len(others)} other app(s) with the name are not it" if others else ""
    return IdentityResolution(
        app,
        "remembered",
        f"no app named '{IDENTITY_APP_NAME}' with the pinned appId now; appId {pinned} remembered "
        f"(last seen {seen}){extra}",
        owed=owed,
    )


def lookalike_warnings(pinned: str | None, sps: list[ServicePrincipal], why: str) -> tuple[NoticeOwed, ...]:
    """One warning per look-alike appId owed to the admins (the app layer sends it; not ``check``)."""
    watched = f"The app watched stays appId {pinned}." if pinned else "No Identity app is watched until then."
    return tuple(
        NoticeOwed(
            kind="identity_app_lookalike",
            title=f"Another app named '{IDENTITY_APP_NAME}' appeared in the tenant",
            lines=(
                f"appId {sp.app_id.lower()}, object id {sp.id.lower()}: {why}.",
                watched,
                "If someone registered it, check why (a look-alike of the Webex app). If Control Hub's wizard "
                f"created it, set the app setting WEBEX_IDENTITY_APP_ID to {sp.app_id.lower()}.",
            ),
            once_key=f"identity-lookalike:{sp.app_id.lower()}",
        )
        for sp in sps
    )
