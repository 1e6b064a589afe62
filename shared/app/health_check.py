"""The timer's health check: the safety net under every event path.

Events can be late (Log Analytics ingests audit records minutes after the change) or absent (no
diagnostic setting, no Event Grid producer). The timer looks at the state itself: both Webex service
principals present by appId and enabled, and Control Hub's sync status. A broken state it finds
opens (or joins) the same tenant + app incident an event would; a healthy state with an incident
still open asks for a verification run now; an incident whose verification run is long overdue (its
queue message was lost) gets a new one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING

from shared.core.models import Action, Kind

if TYPE_CHECKING:
    from shared.app.pipeline import RecordOutcome
    from shared.app.runtime import Services
    from shared.checks.suite import CheckResult, HealthReport

log = logging.getLogger(__name__)

OVERDUE = timedelta(minutes=15)


@dataclass(slots=True)
class HealthOutcome:
    report: HealthReport
    outcomes: list[RecordOutcome] = field(default_factory=list)
    verifications: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return self.report.healthy


def _finding(result: CheckResult, app_key: str) -> tuple[Kind, Action, str] | None:
    """The incident kind a failing check means (``None``: not a finding we act on)."""
    if result.name.startswith("graph.service_principal."):
        if result.verdict == "missing":
            if app_key == "identity":
                return Kind.IDENTITY_APP_DELETED, Action.NOTIFY_REPROVISION, "service principal missing"
            if result.soft_deleted:
                return Kind.INTEGRATION_DELETED, Action.NOTIFY_CONSENT, "service principal in the recycle bin"
            return Kind.INTEGRATION_HARD_DELETED, Action.NOTIFY_CONSENT, "service principal missing (hard delete)"
        if result.verdict == "disabled":
            return Kind.INTEGRATION_DISABLED, Action.NOTIFY_REENABLE, "service principal disabled"
    return None


async def run_health_check(svc: Services) -> HealthOutcome:
    from shared.app.pipeline import health_record, process_record, schedule_verification
    from shared.checks.config_report import announce_config_problems
    from shared.checks.suite import run_checks
    from shared.core.clock import clock
    from shared.core.models import TargetResource
    from shared.detect.classify import Classification

    report = await run_checks(svc)
    outcome = HealthOutcome(report)
    await announce_config_problems(svc)  # once: a missing secret turned a channel off (shared.checks.config_report)
    if svc.settings.prevention_notes:  # opt-in; why here and not at verification: shared.checks.prevention
        from shared.checks.prevention import ensure_notes

        await ensure_notes(svc, report)
    cat = svc.settings.catalogue
    store = svc.store()
    broken: set[str] = set()
    for app in cat.apps:
        findings = [f for r in report.for_app(app.key) if (f := _finding(r, app.key)) is not None]
        sp = report.first("graph.service_principal.", app.key)
        if app.key == cat.integration.key and not findings and sp is not None and sp.verdict == "healthy":
            # The SP is there but its consent is not: Webex says so (701018), or Graph shows no
            # admin-consent grant (opt-in check; ``not_configured`` without Directory.Read.All).
            webex = report.first("webex.sync_status")
            grant = report.first("graph.consent_grant.", app.key)
            graph_has_consent = grant is not None and grant.verdict == "healthy"
            if webex is not None and webex.verdict == "consent_missing" and not graph_has_consent:
                # Graph is the primary witness: with the admin-consent grant present in Entra, Webex's
                # 701018 is its lag behind Entra (minutes), not a revoked consent.
                findings.append((Kind.CONSENT_REVOKED, Action.NOTIFY_CONSENT, "Webex reports consent missing (701018)"))
            elif grant is not None and grant.verdict == "consent_missing":
                findings.append((Kind.CONSENT_REVOKED, Action.NOTIFY_CONSENT, "no admin-consent grant in Entra"))
        watched = replace(app, app_id=sp.app_id) if sp is not None and sp.app_id and not app.app_id else app
        for kind, action, detail in findings:
            broken.add(app.key)
            object_id = sp.object_id if sp else None
            record = health_record(app.key, detail, object_id)
            c = Classification(
                kind=kind, action=action, app=watched, target=TargetResource(id=object_id), rule="health"
            )
            outcome.outcomes.append(await process_record(svc.pipeline_deps(), record, c))

    for app in cat.apps:
        if app.key in broken:
            continue
        inc = await store.get_open(svc.settings.tenant_id, app.key)
        if inc is None:
            continue
        app_ok = all(r.ok for r in report.for_app(app.key))
        overdue = inc.next_verify_at is None or clock.now() - inc.next_verify_at > OVERDUE
        if app_ok and (inc.next_verify_at is None or inc.next_verify_at - clock.now() > timedelta(seconds=30)):
            await schedule_verification(svc.pipeline_deps(), inc, delay=0)
            outcome.verifications.append(inc.incident_id)
        elif overdue:
            await schedule_verification(svc.pipeline_deps(), inc)
            outcome.verifications.append(inc.incident_id)
    return outcome
