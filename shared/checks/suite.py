"""The checks that say whether Webex directory sync can work, each with a verdict and evidence.

Used by three callers: the verification run (is the incident over?), the health timer (is anything
broken that no event told us about?) and ``python -m shared.cli check`` (a table for people).
A check never raises for what it finds; a transient failure becomes a ``degraded`` verdict so one
slow API does not hide the others' results.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from shared.core.catalogue import WebexApp
from shared.core.clock import format_timestamp
from shared.core.errors import TransientError, UpstreamError

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from shared.app.runtime import Services
    from shared.clients.graph import AppRoleAssignment, ServicePrincipal
    from shared.clients.webex_auth import WebexAuthExpired
    from shared.clients.webex_status import SyncStatus

log = logging.getLogger(__name__)

OK_VERDICTS = frozenset({"healthy", "not_configured"})
NON_BLOCKING: dict[str, frozenset[str]] = {
    # Graph (service principals present and enabled, admin-consent grants) and SCIM are the primary
    # evidence; Control Hub's status call is undocumented and only corroborates. An answer from it we
    # cannot read, or its refusal of a token SCIM accepts, says nothing about the tenant.
    "webex.sync_status": frozenset({"unknown", "token_not_accepted"}),
    # A token without the SCIM scope is a configuration problem (one operational notice), not Webex down.
    "webex.scim": frozenset({"misconfigured"}),
}
"""Verdicts that are not healthy yet never keep an incident open, per check."""


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    verdict: str
    evidence: str
    elapsed_ms: float
    app_key: str | None = None
    object_id: str | None = None
    soft_deleted: bool | None = None
    retry_after: float | None = None
    notes: str | None = None  # the service principal's notes, read in the same call (shared.checks.prevention)
    app_id: str | None = None  # the appId checked (the Identity app's may be found by name, not configured)

    def __post_init__(self) -> None:
        from shared.core.redaction import redact

        # Evidence quotes upstream answers (Graph, Webex): shown by ``check``, in notices and logs.
        object.__setattr__(self, "evidence", redact(self.evidence))

    @property
    def ok(self) -> bool:
        return self.verdict in OK_VERDICTS or self.verdict in NON_BLOCKING.get(self.name, ())


@dataclass(slots=True)
class HealthReport:
    results: list[CheckResult] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return all(r.ok for r in self.results)

    def for_app(self, app_key: str) -> list[CheckResult]:
        return [r for r in self.results if r.app_key == app_key]

    def first(self, name: str, app_key: str | None = None) -> CheckResult | None:
        """The first result whose name is ``name`` or starts with it (``"graph.consent_grant."``
        finds the grant check of whatever app), for ``app_key`` when one is given."""
        return next(
            (r for r in self.results if r.name.startswith(name) and (app_key is None or r.app_key == app_key)), None
        )

    @property
    def longest_retry_after(self) -> float | None:
        hints = [r.retry_after for r in self.results if r.retry_after is not None]
        return max(hints) if hints else None


async def check_service_principal(svc: Services, app: WebexApp) -> CheckResult:
    """Present by appId and enabled; when absent, the recycle bin tells soft from hard delete.
    The Identity app without a configured appId is found by name (:mod:`shared.checks.identity_app`)."""
    from shared.checks.identity_app import resolve_identity_app

    name = f"graph.service_principal.{app.key}"
    started = time.perf_counter()
    how = ""

    def done(verdict: str, evidence: str, **kw: object) -> CheckResult:
        return CheckResult(
            name,
            verdict,
            evidence + how,
            (time.perf_counter() - started) * 1000,
            app_key=app.key,
            app_id=app.app_id,
            **kw,  # type: ignore[arg-type]
        )

    try:
        found: list[ServicePrincipal] | None = None
        if not app.app_id and app.key == svc.settings.catalogue.identity.key:
            resolved = await resolve_identity_app(svc)
            if resolved.app is None:
                verdict = "ambiguous" if resolved.how in ("ambiguous", "unverified") else "not_configured"
                return done(verdict, f"{app.display_name}: {resolved.evidence}")
            app, how = resolved.app, f" [{resolved.evidence}]"
            found = [resolved.present] if resolved.present is not None else None
        if not app.app_id:
            return done("not_configured", f"{app.display_name}: appId not configured")
        graph = await svc.graph()
        if found is None:
            found = await graph.service_principals_by_app_id(app.app_id)
        if found:
            sp = found[0]
            if sp.account_enabled is False:
                return done(
                    "disabled",
                    f"{app.display_name} ({sp.id}) is disabled (accountEnabled=false)",
                    object_id=sp.id,
                    notes=sp.notes,
                )
            return done("healthy", f"{app.display_name} present ({sp.id}), enabled", object_id=sp.id, notes=sp.notes)
        deleted = await graph.deleted_service_principals(app.app_id)
    except TransientError as exc:
        return done("degraded", f"Graph: {exc}", retry_after=exc.retry_after)
    except UpstreamError as exc:
        return done("error", f"Graph: {exc}")
    if deleted:
        d = deleted[0]
        when = format_timestamp(d.deleted_at) if d.deleted_at else "unknown time"
        return done(
            "missing",
            f"{app.display_name} deleted at {when}; in the recycle bin ({d.id}), restorable for 30 days",
            object_id=d.id,
            soft_deleted=True,
        )
    return done(
        "missing", f"{app.display_name} not found and not in the recycle bin (hard-deleted)", soft_deleted=False
    )


STATUS_REFUSES_TOKEN = "webex_status_refuses_token"  # noqa: S105 - an extras key, not a secret
"""``svc.extras`` flag: the status call refuses a token SCIM accepts, so its 401 is no reason to renew."""

DEFAULT_429_BACKOFF = 60.0
"""Seconds before the next run when Webex throttles without ``Retry-After`` and in-process retries
did not get through."""


async def _status_with_retry(svc: Services, token: str) -> tuple[SyncStatus, list[str]]:
    """The status call under the project's retry policy: a short ``Retry-After`` is honoured in
    process, a long one is returned (the run is rescheduled, never slept). Every failed call's
    ``trackingid`` is kept for Cisco support."""
    from shared.clients.webex_status import check_sync_status
    from shared.core.retry import with_retry

    s = svc.settings
    http = await svc.http()
    tracking: list[str] = []
    last: list[SyncStatus] = []

    async def once() -> SyncStatus:
        status = await check_sync_status(http, s.webex_identity_base, s.webex_org_id, token)
        last.append(status)
        if status.verdict != "healthy" and status.tracking_id:
            tracking.append(status.tracking_id)
        if status.verdict == "degraded":  # no Retry-After: stamina's exponential backoff
            raise TransientError(f"Webex status answered {status.status}", retry_after=status.retry_after)
        return status

    try:
        return await with_retry(once), tracking
    except TransientError:
        final = last[-1]
        if final.status == 429 and final.retry_after is None:
            final = replace(final, retry_after=DEFAULT_429_BACKOFF)
        return final, tracking


def _evidence(status: SyncStatus, tracking: list[str]) -> str:
    earlier = [t for t in tracking if t != status.tracking_id]
    parts = [p for p in (
        f"HTTP {status.status}" if status.status is not None else None,
        f"trackingid {status.tracking_id}" if status.tracking_id else None,
        f"earlier failed calls: trackingid {', '.join(earlier)}" if earlier else None,
        status.excerpt,
    ) if p]  # fmt: skip
    return "; ".join(parts) or status.verdict


async def _auth_expired(svc: Services, name: str, exc: WebexAuthExpired, started: float) -> CheckResult:
    """One notice per dead refresh token (not one per health tick), then a clear verdict."""
    if not svc.extras.get("quiet"):
        from shared.incidents.operational import OperationalNotice, send_operational

        notice = OperationalNotice(
            kind="webex_authorization_expired",
            title="The Webex sync remediator's Webex authorization expired",
            lines=(
                "Re-authorize the service app in Control Hub → Management → Apps → Service apps, then store "
                "the new refresh token (Key Vault secret or app setting, as deployed).",
                "Until then the remediator cannot confirm whether Webex directory sync works.",
                f"Evidence: {exc.detail}",
            ),
        )
        try:
            await send_operational(svc.operational_deps(), notice, once_key=f"webex-auth-expired:{exc.origin}")
        except Exception:  # the verdict matters more than the notice; the next tick tries again
            log.exception("could not send the Webex authorization notice")
    return CheckResult(
        name, "authorization_expired", str(exc), (time.perf_counter() - started) * 1000, app_key="integration"
    )


async def check_webex(svc: Services) -> CheckResult:
    """Control Hub's sync status with our current token; a refused token is renewed once."""
    from shared.clients.webex_auth import WebexAuthExpired

    name = "webex.sync_status"
    started = time.perf_counter()
    auth = await svc.webex_auth()
    try:
        token = await auth.access_token()
        if not token:
            return CheckResult(name, "not_configured", "WEBEX_ACCESS_TOKEN (or a Webex service app) is not set", 0.0,
                               app_key="integration")  # fmt: skip
        status, tracking = await _status_with_retry(svc, token)
        if status.verdict == "unauthorized" and auth.refreshable and not svc.extras.get(STATUS_REFUSES_TOKEN):
            token = await auth.renew() or token
            again, more = await _status_with_retry(svc, token)
            status, tracking = again, tracking + more
    except WebexAuthExpired as exc:
        return await _auth_expired(svc, name, exc, started)
    except TransientError as exc:
        return CheckResult(name, "degraded", f"Webex token: {exc}", (time.perf_counter() - started) * 1000,
                           app_key="integration", retry_after=exc.retry_after)  # fmt: skip
    svc.extras["webex_status_verdict"] = status.verdict
    return CheckResult(
        name,
        status.verdict,
        _evidence(status, tracking),
        (time.perf_counter() - started) * 1000,
        app_key="integration",
        retry_after=status.retry_after,
    )


_AGREES = {
    ("healthy", "healthy"): "agrees with the status call",
    ("healthy", "consent_missing"): "our token reads the org, so the status 401 is the tenant's consent, not us",
    ("healthy", "unauthorized"): "the same token reads the org: the status endpoint does not accept it",
    ("unauthorized", "healthy"): "contradicts the status call: SCIM refuses the same token",
    ("unauthorized", "unauthorized"): "agrees: our token is refused",
}


async def check_scim(svc: Services, status_verdict: str | None, since: datetime | None = None) -> CheckResult:
    """The public SCIM API's view (see :mod:`shared.clients.webex_scim`), compared with the status verdict."""
    from shared.clients.webex_auth import WebexAuthExpired
    from shared.clients.webex_scim import check_scim as scim_call

    s = svc.settings
    name = "webex.scim"
    started = time.perf_counter()
    try:
        token = await (await svc.webex_auth()).access_token()
    except (WebexAuthExpired, TransientError) as exc:
        verdict = "authorization_expired" if isinstance(exc, WebexAuthExpired) else "degraded"
        return CheckResult(name, verdict, str(exc), (time.perf_counter() - started) * 1000, app_key="integration")
    answer = await scim_call(await svc.http(), s.webex_api_base, s.webex_org_id, token, s.webex_scim_canary_user_id)
    parts: list[str] = []
    if answer.status is not None:
        parts.append(f"HTTP {answer.status}")
    if answer.total is not None:
        parts.append(f"org answers ({answer.total} users)")
    if answer.tracking_id and answer.verdict != "healthy":
        parts.append(f"trackingid {answer.tracking_id}")
    if answer.excerpt:
        parts.append(answer.excerpt)
    opinion = _AGREES.get((answer.verdict, status_verdict or ""))
    if opinion:
        parts.append(opinion)
    if answer.canary_modified is not None:
        moved = since is not None and answer.canary_modified > since
        parts.append(
            f"canary lastModified {format_timestamp(answer.canary_modified)}"
            + (" (synced since the incident opened)" if moved else " (no sync seen since)" if since else "")
        )
    return CheckResult(
        name,
        answer.verdict,
        "; ".join(parts) or answer.verdict,
        answer.elapsed_ms,
        app_key="integration",
        retry_after=answer.retry_after,
    )


_STATUS_NOTICE = (
    "webex_status_token_not_accepted",
    "The Webex status endpoint does not accept this token",
    "Control Hub's directory-sync status call (undocumented) refuses the remediator's Webex token while "
    "Webex's public SCIM API accepts the same token: the endpoint probably wants an administrator's session.",
    "Verification goes on without it: Microsoft Graph (service principals, admin-consent grants) and SCIM "
    "decide whether an incident is over. Nothing to do unless you want the extra corroboration "
    "(a Control Hub full administrator's token in WEBEX_ACCESS_TOKEN).",
)
_SCIM_NOTICE = (
    "webex_scim_misconfigured",
    "The Webex SCIM check is misconfigured",
    "Webex's SCIM API answers 403 to the remediator's token: the token lacks the identity:people_read "
    "scope (a bot's token never has it), or WEBEX_ORG_ID is not the token's organization.",
    "Use a service app (or an administrator's token) with identity:people_read for this org; until then "
    "verification relies on Microsoft Graph and the status call.",
)


async def _notice_once(svc: Services, text: tuple[str, str, str, str], once_key: str, evidence: str) -> None:
    """One operational notice per problem (the marker row keeps it to one, not one per run)."""
    if svc.extras.get("quiet"):
        return
    from shared.incidents.operational import OperationalNotice, send_operational

    kind, title, *lines = text
    notice = OperationalNotice(kind=kind, title=title, lines=(*lines, f"Evidence: {evidence}"))
    try:
        sent = await send_operational(svc.operational_deps(), notice, once_key=once_key)
    except Exception:  # the verdict matters more than the notice; the next run tries again
        log.exception("could not send the %s notice", kind)
        return
    if sent:  # logged with the notice, once; later runs carry it in the check's evidence only
        log.warning("%s: %s", title, evidence, extra={"event": kind})


async def _status_refuses_token(svc: Services, status: CheckResult, scim: CheckResult) -> CheckResult:
    """The status call refused our token but SCIM did not: the endpoint does not accept this kind of
    token (it is undocumented; Control Hub calls it with an admin's session). Not a verdict on the
    tenant, so it never blocks resolution; said once when SCIM proves the token good."""
    evidence = f"{status.evidence}; the status endpoint does not accept this token (SCIM: {scim.verdict})"
    if scim.verdict == "healthy":
        svc.extras[STATUS_REFUSES_TOKEN] = True  # renewing our token on its 401 would not help: not every run
        await _notice_once(svc, _STATUS_NOTICE, "webex-status-token-not-accepted", status.evidence)
    return replace(status, verdict="token_not_accepted", evidence=evidence)


GRANTS_PERMISSION = "Directory.Read.All (application) on Microsoft Graph"
"""What ``GET /oauth2PermissionGrants`` needs (learn.microsoft.com/graph/api/oauth2permissiongrant-list);
granted by the deployment (the audit poll needs it too). If a tenant removes it, Graph answers 403."""
ROLES_PERMISSION = "Application.Read.All (application) on Microsoft Graph"
"""What ``GET /servicePrincipals/{id}/appRoleAssignments`` needs (serviceprincipal-list-approleassignments)."""

_T = TypeVar("_T")


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


async def check_consent_grant(svc: Services, app: WebexApp) -> CheckResult:
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

    name = f"graph.consent_grant.{app.key}"
    started = time.perf_counter()

    def done(verdict: str, evidence: str, **kw: object) -> CheckResult:
        return CheckResult(name, verdict, evidence, (time.perf_counter() - started) * 1000, app_key=app.key,
                           **kw)  # type: ignore[arg-type]  # fmt: skip

    try:
        graph = await svc.graph()
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
    evidence = f"{app.display_name} ({sp_id}): " + "; ".join(parts)
    if admin or roles:
        return done("healthy", evidence, object_id=sp_id)
    if grants is None:
        return done("not_configured", evidence + "; check skipped")
    return done("consent_missing", evidence, object_id=sp_id)


async def run_checks(
    svc: Services, apps: tuple[WebexApp, ...] | None = None, *, webex: bool = True, since: datetime | None = None
) -> HealthReport:
    """Every check, concurrently where independent. ``since`` (an incident's opening) lets the SCIM
    canary say whether a sync ran after the outage began."""
    import asyncio

    cat = svc.settings.catalogue
    apps = apps if apps is not None else cat.apps
    tasks = [check_service_principal(svc, app) for app in apps]
    if any(app.key == cat.integration.key for app in apps):
        tasks.append(check_consent_grant(svc, cat.integration))

    async def webex_checks() -> list[CheckResult]:
        status = await check_webex(svc)
        if status.verdict in ("not_configured", "authorization_expired"):
            return [status]
        scim = await check_scim(svc, status.verdict, since)
        if status.verdict == "unauthorized" and scim.verdict != "unauthorized":
            status = await _status_refuses_token(svc, status, scim)
        elif scim.verdict == "unauthorized":
            svc.extras.pop(STATUS_REFUSES_TOKEN, None)  # SCIM refuses it too: renew it on the next 401
        if scim.verdict == "misconfigured":
            await _notice_once(svc, _SCIM_NOTICE, "webex-scim-misconfigured", scim.evidence)
        return [status, scim]

    graph_results = asyncio.gather(*tasks)
    if webex:
        graph_done, webex_done = await asyncio.gather(graph_results, webex_checks())
        report = HealthReport([*graph_done, *webex_done])
        blind = _consent_unwitnessed(report)
        if blind is not None:
            report.results.append(blind)
        return report
    return HealthReport(list(await graph_results))


def _consent_unwitnessed(report: HealthReport) -> CheckResult | None:
    """Whether anybody saw the integration's consent. Graph's grant check is the primary witness; if
    it cannot read the grants (no Directory.Read.All) and the status call cannot tell either (it
    refuses our token, or answers in a shape we cannot read), a resolution would rest on nothing:
    an ``unwitnessed`` result keeps the incident open and says what to grant."""
    grant = report.first("graph.consent_grant.")
    status = report.first("webex.sync_status")
    if grant is None or status is None or grant.verdict != "not_configured":
        return None
    if status.verdict not in NON_BLOCKING["webex.sync_status"]:
        return None
    evidence = (
        f"nobody can see the integration's admin consent: Graph cannot read its grants ({GRANTS_PERMISSION} "
        f"missing) and the status call says {status.verdict}; grant {GRANTS_PERMISSION} to the app's identity"
    )
    return CheckResult("consent.witness", "unwitnessed", evidence, 0.0, app_key=grant.app_key)
