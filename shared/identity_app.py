"""Which appId "Cisco Webex Identity" has in this tenant when ``WEBEX_IDENTITY_APP_ID`` is not set.

The Control Hub wizard creates this app in each tenant, so its appId is not known in advance and
the deployment leaves the setting empty by default. Without an appId nothing could be watched: no
presence check, no recycle-bin look-up, no delta. So, when the setting is empty:

1. Graph is asked for ``servicePrincipals?$filter=displayName eq 'Cisco Webex Identity'`` and only
   **exact** (trimmed, case-insensitive) name matches are kept — never ``startswith``, never a
   similar name: a look-alike must not be adopted.
2. Exactly one appId among them → it is used, and **remembered** in a state row beside the
   incidents (``state-identity-app``: appId, last object id, when seen). Once the app is deleted
   the name finds nothing, and the remembered appId is what still lets the checks look in the
   recycle bin and report the deletion; the delta already tracks its last object id.
3. Two or more different appIds → ``ambiguous``: a clear verdict naming them, never a guess (the
   admin sets ``WEBEX_IDENTITY_APP_ID``).
4. None, and never seen → ``not_configured``: a tenant that never ran the wizard has no incident.

A configured setting always wins: no name look-up is made and the row is not read.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from shared.catalogue import IDENTITY_APP_NAME, WebexApp, is_guid
from shared.timeutil import clock, format_timestamp

if TYPE_CHECKING:
    from shared.graph import ServicePrincipal
    from shared.runtime import Services

STATE = "identity-app"


@dataclass(frozen=True, slots=True)
class IdentityResolution:
    """``app`` carries the appId to watch (``None``: nothing to watch); ``how`` is ``setting``,
    ``name``, ``remembered``, ``ambiguous`` or ``unknown``; ``present`` is the SP the name look-up
    found (it saves the by-appId call)."""

    app: WebexApp | None
    how: str
    evidence: str
    present: ServicePrincipal | None = None


def _exact(sp: ServicePrincipal) -> bool:
    return (sp.display_name or "").strip().casefold() == IDENTITY_APP_NAME.casefold()


async def resolve_identity_app(svc: Services) -> IdentityResolution:
    """See the module docstring. Raises the Graph/Table errors (transient or not) to the caller,
    which turns them into a ``degraded``/``error`` verdict."""
    app = svc.settings.catalogue.identity
    if app.app_id:
        return IdentityResolution(app, "setting", f"appId {app.app_id} (WEBEX_IDENTITY_APP_ID)")
    graph = await svc.graph()
    exact = [sp for sp in await graph.service_principals_by_display_name(IDENTITY_APP_NAME) if _exact(sp)]
    app_ids = sorted({sp.app_id.lower() for sp in exact})
    if len(app_ids) > 1:
        return IdentityResolution(
            None,
            "ambiguous",
            f"{len(app_ids)} apps are named exactly '{IDENTITY_APP_NAME}' (appIds {', '.join(app_ids)}); "
            "set WEBEX_IDENTITY_APP_ID to the one Control Hub created",
        )
    cp = svc.checkpoints()
    state = await cp.get_state(STATE)
    remembered = str(state.values.get("app_id") or "").lower()
    if app_ids:
        sp = exact[0]
        if remembered != app_ids[0] or state.values.get("object_id") != sp.id.lower():
            values = {"app_id": app_ids[0], "object_id": sp.id.lower(), "seen_at": format_timestamp(clock.now())}
            await cp.put_state(STATE, values, state.etag)  # None: another run wrote the same facts first
        return IdentityResolution(replace(app, app_id=app_ids[0]), "name", f"appId {app_ids[0]} found by name", sp)
    if is_guid(remembered):
        seen = state.values.get("seen_at") or "an earlier run"
        return IdentityResolution(
            replace(app, app_id=remembered),
            "remembered",
            f"no app named '{IDENTITY_APP_NAME}' now; appId {remembered} remembered (last seen {seen})",
        )
    return IdentityResolution(
        None,
        "unknown",
        f"no app named '{IDENTITY_APP_NAME}' and none seen before; set WEBEX_IDENTITY_APP_ID to watch it",
    )
