"""The checks that say whether Webex directory sync can work, each with a verdict and evidence.

Used by three callers: the verification run (is the incident over?), the health timer (is anything
broken that no event told us about?) and ``python -m shared.cli check`` (a table for people).
A check never raises for what it finds; a transient failure becomes a ``degraded`` verdict so one
slow API does not hide the others' results.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from shared.catalogue import WebexApp
from shared.errors import TransientError, UpstreamError
from shared.timeutil import format_timestamp

if TYPE_CHECKING:
    from shared.runtime import Services
    from shared.webex_status import SyncStatus

OK_VERDICTS = frozenset({"healthy", "not_configured"})


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
    notes: str | None = None  # the service principal's notes, read in the same call (shared.prevention)

    @property
    def ok(self) -> bool:
        return self.verdict in OK_VERDICTS


@dataclass(slots=True)
class HealthReport:
    results: list[CheckResult] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return all(r.ok for r in self.results)

    def for_app(self, app_key: str) -> list[CheckResult]:
        return [r for r in self.results if r.app_key == app_key]

    @property
    def longest_retry_after(self) -> float | None:
        hints = [r.retry_after for r in self.results if r.retry_after is not None]
        return max(hints) if hints else None


async def check_service_principal(svc: Services, app: WebexApp) -> CheckResult:
    """Present by appId and enabled; when absent, the recycle bin tells soft from hard delete."""
    name = f"graph.service_principal.{app.key}"
    started = time.perf_counter()

    def done(verdict: str, evidence: str, **kw: object) -> CheckResult:
        return CheckResult(
            name,
            verdict,
            evidence,
            (time.perf_counter() - started) * 1000,
            app_key=app.key,
            **kw,  # type: ignore[arg-type]
        )

    if not app.app_id:
        return done("not_configured", f"{app.display_name}: appId not configured (WEBEX_IDENTITY_APP_ID)")
    try:
        graph = await svc.graph()
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


async def check_webex(svc: Services) -> CheckResult:
    from shared.webex_status import check_sync_status

    s = svc.settings
    token = s.webex_access_token.get_secret_value() if s.webex_access_token else None
    status: SyncStatus = await check_sync_status(await svc.http(), s.webex_identity_base, s.webex_org_id, token)
    parts = [p for p in (
        f"HTTP {status.status}" if status.status is not None else None,
        f"trackingid {status.tracking_id}" if status.tracking_id else None,
        status.excerpt,
    ) if p]  # fmt: skip
    return CheckResult(
        "webex.sync_status",
        status.verdict,
        "; ".join(parts) or status.verdict,
        status.elapsed_ms,
        app_key="integration",
        retry_after=status.retry_after,
    )


async def run_checks(svc: Services, apps: tuple[WebexApp, ...] | None = None, *, webex: bool = True) -> HealthReport:
    import asyncio

    apps = apps if apps is not None else svc.settings.catalogue.apps
    tasks = [check_service_principal(svc, app) for app in apps]
    if webex:
        tasks.append(check_webex(svc))
    return HealthReport(list(await asyncio.gather(*tasks)))
