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
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.app.operational_notices import ConfigAnnouncements, OperationalSend
    from shared.app.pipeline import PipelineDeps, RecordOutcome
    from shared.checks.deps import CheckClients
    from shared.checks.prevention import NotesWriter
    from shared.checks.report import CheckResult, HealthReport
    from shared.core.settings import Settings
    from shared.detect.findings import Finding
    from shared.incidents.store import Incident, IncidentStore

log = logging.getLogger(__name__)

OVERDUE = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class HealthCheckDeps:
    """What the timer's health check uses: the clients the checks read, the sender of the notices
    they owe, this process's memory of configuration problems already told, the incident store and
    the pipeline that opens incidents and schedules verification runs."""

    settings: Settings
    checks: CheckClients
    send: OperationalSend
    announcements: ConfigAnnouncements
    store: IncidentStore
    pipeline: PipelineDeps
    notes: NotesWriter  # Graph, for the opt-in prevention notes
    announce_config: bool = True
    """Tell the configuration's problems here; ``False`` for a customer tenant's sweep (provider mode):
    the deployment's configuration is the provider's business, told by the timer's fan-out."""


@dataclass(slots=True)
class HealthOutcome:
    report: HealthReport
    outcomes: list[RecordOutcome] = field(default_factory=list)
    verifications: list[str] = field(default_factory=list)
    open_incidents: dict[str, Incident] | None = None
    """The open incidents of the apps found healthy, by app key, as step 3 read them (one query);
    ``None`` when every app was broken (nothing read)."""

    @property
    def healthy(self) -> bool:
        return self.report.healthy


def _finding(result: CheckResult, app_key: str, object_id: str | None, app_id: str | None) -> Finding | None:
    """What a failing presence check saw (``None``: not a finding we act on); the rules decide its
    kind (:mod:`shared.detect.findings`)."""
    from shared.detect.findings import Finding, Seen

    if not result.name.startswith("graph.service_principal."):
        return None
    if result.verdict == "missing":
        seen = Seen.IN_RECYCLE_BIN if result.soft_deleted else Seen.GONE
        if app_key == "identity":
            detail = "service principal missing"
        elif result.soft_deleted:
            detail = "service principal in the recycle bin"
        else:
            detail = "service principal missing (hard delete)"
        return Finding(app_key, seen, object_id, detail, app_id)
    if result.verdict == "disabled":
        return Finding(app_key, Seen.DISABLED, object_id, "service principal disabled", app_id)
    return None


def _consent_missing(report: HealthReport, app_key: str) -> str | None:
    """Why the integration's consent is missing although its SP is there, or ``None``: Webex says so
    (701018), or Graph shows no admin-consent grant (opt-in check; ``not_configured`` without
    Directory.Read.All)."""
    webex = report.first("webex.sync_status")
    grant = report.first("graph.consent_grant.", app_key)
    graph_has_consent = grant is not None and grant.verdict == "healthy"
    if webex is not None and webex.verdict == "consent_missing" and not graph_has_consent:
        # Graph is the primary witness: with the admin-consent grant present in Entra, Webex's
        # 701018 is its lag behind Entra (minutes), not a revoked consent.
        return "Webex reports consent missing (701018)"
    if grant is not None and grant.verdict == "consent_missing":
        return "no admin-consent grant in Entra"
    return None


def findings(report: HealthReport, app_key: str, *, integration: bool) -> list[Finding]:
    """The broken states ``report`` shows for one app (the integration's consent too); the rules
    table decides what each means (:func:`shared.detect.findings.classify_finding`)."""
    from shared.detect.findings import Finding, Seen

    sp = report.first("graph.service_principal.", app_key)
    object_id, app_id = (sp.object_id, sp.app_id or None) if sp is not None else (None, None)
    found = [f for r in report.for_app(app_key) if (f := _finding(r, app_key, object_id, app_id)) is not None]
    if integration and not found and sp is not None and sp.verdict == "healthy":
        detail = _consent_missing(report, app_key)
        if detail is not None:
            found.append(Finding(app_key, Seen.CONSENT_MISSING, object_id, detail, app_id))
    return found


async def _check(deps: HealthCheckDeps) -> HealthReport:
    """Step 1: the checks and the operational notices they owe; the configuration notice (once: a
    missing secret turned a channel off, shared.checks.config_report); the prevention notes (opt-in;
    why here and not at verification: shared.checks.prevention)."""
    from shared.app.checking import CheckingDeps, check_and_notify
    from shared.app.operational_notices import announce_config_problems

    report = await check_and_notify(CheckingDeps(deps.checks, deps.send))
    if deps.announce_config:
        await announce_config_problems(deps.settings, deps.send, deps.announcements)
    if deps.settings.prevention_notes:
        from shared.checks.prevention import ensure_notes

        await ensure_notes(deps.notes, report)
    return report


async def _open_incidents(deps: HealthCheckDeps, report: HealthReport, outcome: HealthOutcome) -> set[str]:
    """Step 2: each finding opens (or joins) its app's incident. Returns the keys of the broken apps."""
    from shared.app.pipeline import health_record, process_record
    from shared.detect.findings import classify_finding

    cat = deps.settings.catalogue
    broken: set[str] = set()
    for app in cat.apps:
        for finding in findings(report, app.key, integration=app.key == cat.integration.key):
            broken.add(app.key)
            record = health_record(app.key, finding.detail, finding.object_id)
            c = classify_finding(finding, cat)
            outcome.outcomes.append(await process_record(deps.pipeline, record, c))
    return broken


async def _follow_up(deps: HealthCheckDeps, report: HealthReport, outcome: HealthOutcome, broken: set[str]) -> None:
    """Step 3: an open incident of a healthy app is verified now; one whose verification run is long
    overdue (its queue message was lost) gets a new one."""
    from shared.app.pipeline import schedule_verification
    from shared.core.clock import clock

    apps = [app for app in deps.settings.catalogue.apps if app.key not in broken]
    if not apps:
        return
    found = await deps.store.open_incidents(deps.settings.tenant_id)  # one query for every app
    outcome.open_incidents = {app.key: found[app.key] for app in apps if app.key in found}
    for app in apps:
        inc = outcome.open_incidents.get(app.key)
        if inc is None:
            continue
        app_ok = all(r.ok for r in report.for_app(app.key))
        overdue = inc.next_verify_at is None or clock.now() - inc.next_verify_at > OVERDUE
        if app_ok and (inc.next_verify_at is None or inc.next_verify_at - clock.now() > timedelta(seconds=30)):
            await schedule_verification(deps.pipeline, inc, delay=0)
            outcome.verifications.append(inc.incident_id)
        elif overdue:
            await schedule_verification(deps.pipeline, inc)
            outcome.verifications.append(inc.incident_id)


async def run_health_check(deps: HealthCheckDeps) -> HealthOutcome:
    """The timer's run: check, open incidents for what is broken, follow up on the open ones."""
    report = await _check(deps)
    outcome = HealthOutcome(report)
    broken = await _open_incidents(deps, report, outcome)
    await _follow_up(deps, report, outcome, broken)
    return outcome
