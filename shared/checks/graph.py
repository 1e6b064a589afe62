"""Microsoft Graph's view of the Webex apps: each service principal (present, enabled, in the recycle
bin) and the Identity Integration's admin consent (delegated grant or application permissions)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, TypeVar

from shared.checks.report import CheckResult
from shared.core.clock import format_timestamp
from shared.core.errors import TransientError, UpstreamError

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from shared.checks.deps import CheckClients, GraphReader
    from shared.checks.report import NoticeOwed
    from shared.clients.graph import AppRoleAssignment, DeletedServicePrincipal, PermissionGrant, ServicePrincipal
    from shared.core.catalogue import WebexApp

GRANTS_PERMISSION = "Directory.Read.All (application) on Microsoft Graph"
"""What ``GET /oauth2PermissionGrants`` needs (learn.microsoft.com/graph/api/oauth2permissiongrant-list);
granted by the deployment (the audit poll needs it too). If a tenant removes it, Graph answers 403."""
ROLES_PERMISSION = "Application.Read.All (application) on Microsoft Graph"
"""What ``GET /servicePrincipals/{id}/appRoleAssignments`` needs (serviceprincipal-list-approleassignments)."""

_T = TypeVar("_T")


class _Timed:
    """Builds one check's result with its name, app and the time since it started."""

    def __init__(self, name: str, app: WebexApp) -> None:
        self.name, self.app, self.how = name, app, ""
        self.started = time.perf_counter()

    def __call__(self, verdict: str, evidence: str, **kw: object) -> CheckResult:
        return CheckResult(
            self.name,
            verdict,
            evidence + self.how,
            (time.perf_counter() - self.started) * 1000,
            app_key=self.app.key,
            **kw,  # type: ignore[arg-type]
        )


async def check_service_principal(clients: CheckClients, app: WebexApp) -> CheckResult:
    """Present by appId and enabled; when absent, the recycle bin tells soft from hard delete.
    The Identity app without a configured appId is found by name (:mod:`shared.checks.identity_app`),
    and what that look-up owes the admins (a look-alike warning) travels in the result's ``owed``."""
    from shared.checks.identity_app import resolve_identity_app

    done = _Timed(f"graph.service_principal.{app.key}", app)
    owed: tuple[NoticeOwed, ...] = ()
    try:
        found: list[ServicePrincipal] | None = None
        if not app.app_id and app.key == clients.settings.catalogue.identity.key:
            resolved = await resolve_identity_app(clients.settings, clients.graph, clients.state)
            owed = resolved.owed
            if resolved.app is None:
                verdict = "ambiguous" if resolved.how in ("ambiguous", "unverified") else "not_configured"
                return done(verdict, f"{app.display_name}: {resolved.evidence}", app_id=None, owed=owed)
            app, done.how = resolved.app, f" [{resolved.evidence}]"
            found = [resolved.present] if resolved.present is not None else None
        if not app.app_id:
            return done("not_configured", f"{app.display_name}: appId not configured", app_id=None)
        if found is None:
            found = await clients.graph.service_principals_by_app_id(app.app_id)
        if found:
            return _present(done, app, found[0], owed)
        deleted = await clients.graph.deleted_service_principals(app.app_id)
    except TransientError as exc:
        return done("degraded", f"Graph: {exc}", retry_after=exc.retry_after, app_id=app.app_id, owed=owed)
    except UpstreamError as exc:
        return done("error", f"Graph: {exc}", app_id=app.app_id, owed=owed)
    return _absent(done, app, deleted, owed)


def _present(done: _Timed, app: WebexApp, sp: ServicePrincipal, owed: tuple[NoticeOwed, ...]) -> CheckResult:
    if sp.account_enabled is False:
        evidence = f"{app.display_name} ({sp.id}) is disabled (accountEnabled=false)"
        return done("disabled", evidence, object_id=sp.id, notes=sp.notes, app_id=app.app_id, owed=owed)
    evidence = f"{app.display_name} present ({sp.id}), enabled"
    return done("healthy", evidence, object_id=sp.id, notes=sp.notes, app_id=app.app_id, owed=owed)


def _absent(
    done: _Timed, app: WebexApp, deleted: list[DeletedServicePrincipal], owed: tuple[NoticeOwed, ...]
) -> CheckResult:
    if deleted:
        d = deleted[0]
        when = format_timestamp(d.deleted_at) if d.deleted_at else "unknown time"
        return done(
            "missing",
            f"{app.display_name} deleted at {when}; in the recycle bin ({d.id}), restorable for 30 days",
            object_id=d.id,
            soft_deleted=True,
            app_id=app.app_id,
            owed=owed,
        )
    return done(
        "missing",
        f"{app.display_name} not found and not in the recycle bin (hard-deleted)",
        soft_deleted=False,
        app_id=app.app_id,
        owed=owed,
    )


async def _unless_forbidden(call: Awaitable[_T]) -> _T | None:
    """``None`` when Graph answers 403 (a permission the tenant removed); other errors propagate."""
    try:
        return await call
    except UpstreamError as exc:
        if exc.status == 403:
            return None
        raise


def _roles_text(roles: list[AppRoleAssignment]) -> str:
    by_resource: dict[str, list[str]] = {}
    for r in roles:
        by_resource.setdefault(r.resource_display_name or r.resource_id or "unknown API", []).append(
            r.app_role_id or "?"
        )
    return "; ".join(f"{res}: {', '.join(sorted(ids))}" for res, ids in sorted(by_resource.items()))


async def check_consent_grant(graph: GraphReader, app: WebexApp) -> CheckResult:
    """The Identity Integration's consent: the admin-consent (``AllPrincipals``) delegated grant in
    ``oauth2PermissionGrants`` by clientId, AND the application permissions granted to it
    (``servicePrincipals/{id}/appRoleAssignments``), both reported as evidence. The SP can be back
    while its consent is not (revoked, or re-created without consent), so the verdict is
    ``consent_missing`` only when neither an admin-consent grant nor any app role is held.

    Webex's integration works through delegated admin consent (what the consent URL grants and what
    the simulator models); app roles are read so a tenant that granted application permissions
    instead is not told its consent is missing. A 403 on one list is noted in the evidence and the
    other decides; 403 on the delegated grants (the main witness) with no app role is
    ``not_configured`` rather than a guess."""
    import asyncio

    done = _Timed(f"graph.consent_grant.{app.key}", app)
    try:
        found = await graph.service_principals_by_app_id(app.app_id or "")
        if not found:
            return done("missing", f"{app.display_name} has no service principal, so no consent grant")
        sp_id = found[0].id
        grants, roles = await asyncio.gather(
            _unless_forbidden(graph.permission_grants(sp_id)), _unless_forbidden(graph.app_role_assignments(sp_id))
        )
    except TransientError as exc:
        return done("degraded", f"Graph: {exc}", retry_after=exc.retry_after)
    except UpstreamError as exc:
        return done("error", f"Graph: {exc}")
    admin = [g for g in grants or [] if (g.consent_type or "").lower() == "allprincipals"]
    evidence = f"{app.display_name} ({sp_id}): " + "; ".join(_consent_parts(grants, admin, roles))
    if admin or roles:
        return done("healthy", evidence, object_id=sp_id)
    if grants is None:
        return done("not_configured", evidence + "; check skipped")
    return done("consent_missing", evidence, object_id=sp_id)


def _consent_parts(
    grants: list[PermissionGrant] | None, admin: list[PermissionGrant], roles: list[AppRoleAssignment] | None
) -> list[str]:
    """The grant check's evidence: what each of the two lists showed (or why it could not be read)."""
    parts: list[str] = []
    if grants is None:
        parts.append(f"delegated grants unreadable (Graph 403: needs {GRANTS_PERMISSION})")
    elif admin:
        scopes = " ".join(sorted({sc for g in admin for sc in (g.scope or "").split()}))
        parts.append(f"admin consent present ({len(admin)} grant(s); scopes: {scopes or 'none'})")
    else:
        parts.append("no admin-consent (AllPrincipals) delegated grant")
    if roles is None:
        parts.append(f"app role assignments unreadable (Graph 403: needs {ROLES_PERMISSION})")
    elif roles:
        parts.append(f"{len(roles)} application permission(s) granted ({_roles_text(roles)})")
    else:
        parts.append("no application permissions (app role assignments)")
    return parts
