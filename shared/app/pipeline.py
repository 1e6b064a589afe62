"""From classified audit records to incidents, notices and verification runs.

Every detection path ends here, so the invariants live here once:

- **At-least-once in, one incident out.** The open incident's row key is tenant + app, so every
  source and every duplicate lands on the same incident; a processed record id is remembered
  (``seen``) only *after* its work is done, so a crash re-processes instead of losing it.
- **Late records do not reopen a fixed outage**: a deletion older than the app's last resolution is
  stale (alerts lag the timer by minutes).
- **Self-healing is opt-in and decided once**: with ``AUTO_RESTORE=true`` a deletion incident asks
  :func:`shared.app.restore.auto_restore` before its first notice; a successful restore replaces the
  consent notice with a ``restored`` one (the flow is documented in :mod:`shared.app.restore`).
- **Nothing is lost**: a notice that could not be delivered makes the invocation fail with a
  :class:`TransientError` (the platform retries; sent channels are not re-sent), and the record is
  not marked seen until everything went out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from shared.core.clock import clock, format_timestamp
from shared.core.errors import TransientError
from shared.core.models import Action, AuditRecord, Kind, Source
from shared.incidents.claims import write
from shared.incidents.lifecycle import INITIAL, Step
from shared.incidents.store import Incident, cut, new_incident_id

if TYPE_CHECKING:
    from shared.app.restore import RestoreDeps
    from shared.clients.checkpoints import Checkpoints
    from shared.core.models import Extraction
    from shared.core.settings import Settings
    from shared.detect.classify import Classification
    from shared.incidents.notices import NoticeDeps
    from shared.incidents.schedule import VerifyScheduler
    from shared.incidents.store import IncidentStore

log = logging.getLogger(__name__)

# Stronger evidence replaces weaker on an open incident (a soft delete followed by the hard one).
_SEVERITY = {
    Kind.INTEGRATION_DISABLED: 1,
    Kind.CONSENT_REVOKED: 2,
    Kind.INTEGRATION_DELETED: 3,
    Kind.IDENTITY_APP_DELETED: 3,
    Kind.INTEGRATION_HARD_DELETED: 4,
}


@dataclass(frozen=True, slots=True)
class PipelineDeps:
    """What acting on classified records uses: the settings, the incident store, the verification
    scheduler, the checkpoint rows (the Identity app's pinned appId), the notices and the opt-in
    restore."""

    settings: Settings
    store: IncidentStore
    scheduler: VerifyScheduler
    checkpoints: Checkpoints
    notices: NoticeDeps
    restore: RestoreDeps


@dataclass(frozen=True, slots=True)
class RecordOutcome:
    """What happened to one record; the triggers log these and the CLI prints them."""

    record_id: str
    kind: str
    action: str
    outcome: str  # opened | attached | duplicate | stale | ignored | verify_requested | no_incident | foreign_tenant
    incident_id: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {
            "record_id": self.record_id, "kind": self.kind, "action": self.action,
            "outcome": self.outcome, "incident_id": self.incident_id,
        }  # fmt: skip


def _soft_or_hard(kind: Kind) -> str | None:
    return {Kind.INTEGRATION_DELETED: "soft", Kind.INTEGRATION_HARD_DELETED: "hard"}.get(kind)


def new_incident(tenant_id: str, record: AuditRecord, c: Classification) -> Incident:
    assert c.app is not None
    now = clock.now()
    target = c.target
    return Incident(
        tenant_id=tenant_id,
        app_key=c.app.key,
        app_id=c.app.app_id,
        incident_id=new_incident_id(c.app.key, now),
        kind=str(c.kind),
        action=str(c.action),
        state=INITIAL,
        opened_at=now,
        updated_at=now,
        first_record_id=cut(record.record_id) or "",
        activity=cut(record.activity),
        initiator_kind=record.initiator.kind,
        initiator_label=cut(record.initiator.label),
        event_time=record.event_time,
        target_object_id=cut(target.id) if target else None,
        soft_or_hard=_soft_or_hard(c.kind),
        sources=(str(record.source),),
    )


async def schedule_verification(deps: PipelineDeps, inc: Incident, *, delay: float | None = None) -> Incident:
    """Queue the incident's next verification run (:class:`shared.incidents.schedule.VerifyScheduler`)."""
    return await deps.scheduler.schedule(inc, delay=delay)


async def process_record(deps: PipelineDeps, record: AuditRecord, c: Classification) -> RecordOutcome:
    """Act on one classified record (see the module docstring for the guarantees); its log lines
    carry the tenant, app and kind, and the incident id once it is known."""
    from shared.core.logcontext import bind

    with bind(tenant_id=deps.settings.tenant_id, app=c.app.key if c.app else None, kind=str(c.kind)):
        return await _process_record(deps, record, c)


async def _another_identity_app(deps: PipelineDeps, record: AuditRecord, c: Classification) -> bool:
    """A record matched to the Identity app by NAME (no appId configured) whose target carries an
    appId other than the pinned one is about a look-alike (shared.checks.identity_app): not ours."""
    identity = deps.settings.catalogue.identity
    if c.app is None or c.app.key != identity.key or identity.app_id:
        return False
    app_ids = {t.app_id.lower() for t in record.targets if t.app_id}
    if not app_ids:
        return False
    from shared.checks.identity_app import STATE

    pinned = str((await deps.checkpoints.get_state(STATE)).values.get("app_id") or "").lower()
    return bool(pinned) and pinned not in app_ids


async def _process_record(deps: PipelineDeps, record: AuditRecord, c: Classification) -> RecordOutcome:
    from shared.core.logcontext import bind

    s = deps.settings
    store = deps.store
    base = {"record_id": record.record_id, "kind": str(c.kind), "action": str(c.action)}
    if c.action == Action.IGNORE or c.app is None:
        return RecordOutcome(**base, outcome="ignored")
    if record.tenant_id and record.tenant_id.lower() != s.tenant_id:
        log.warning("record %s belongs to another tenant; ignored", record.record_id)
        return RecordOutcome(**base, outcome="foreign_tenant")
    if await _another_identity_app(deps, record, c):
        log.warning("record %s is about another app named like the Identity app; ignored", record.record_id)
        return RecordOutcome(**base, outcome="not_the_pinned_identity_app")
    dedupe = record.source != Source.HEALTH
    if dedupe and await store.was_seen(s.tenant_id, record.record_id):
        return RecordOutcome(**base, outcome="duplicate")
    last = await store.last_resolved_at(s.tenant_id, c.app.key)
    if dedupe and last is not None and record.event_time is not None and record.event_time <= last:
        open_now = await store.get_open(s.tenant_id, c.app.key)
        if open_now is None:
            await store.mark_seen(s.tenant_id, record.record_id, "stale")
            return RecordOutcome(**base, outcome="stale")

    if c.action == Action.VERIFY:
        inc = await store.get_open(s.tenant_id, c.app.key)
        if inc is None:
            if dedupe:
                await store.mark_seen(s.tenant_id, record.record_id, "no_incident")
            return RecordOutcome(**base, outcome="no_incident")
        await deps.scheduler.schedule(inc, delay=0)
        if dedupe:
            await store.mark_seen(s.tenant_id, record.record_id, f"verify:{inc.incident_id}")
        return RecordOutcome(**base, outcome="verify_requested", incident_id=inc.incident_id)

    candidate = new_incident(s.tenant_id, record, c)
    inc, created = await store.open_or_attach(candidate, str(record.source))
    with bind(incident_id=inc.incident_id):
        return await _act(deps, record, c, inc=inc, created=created, candidate=candidate, base=base)


async def _raise_severity(store: IncidentStore, inc: Incident, stronger: Incident) -> Incident:
    """Stronger evidence replaces weaker on the open incident (re-checked under the ETag)."""

    def upgrade(cur: Incident) -> Incident | None:
        if _SEVERITY.get(Kind(stronger.kind), 0) <= _SEVERITY.get(Kind(cur.kind), 0):
            return None
        return replace(cur, kind=stronger.kind, action=stronger.action, soft_or_hard=stronger.soft_or_hard)

    return await write(store, inc, upgrade, step=Step.SEVERITY_RAISED)


async def _act(
    deps: PipelineDeps,
    record: AuditRecord,
    c: Classification,
    *,
    inc: Incident,
    created: bool,
    candidate: Incident,
    base: dict[str, str],
) -> RecordOutcome:
    """The part of :func:`process_record` that runs once the incident is known: severity upgrade,
    the opt-in restore, the opening notice, the first verification, the record marked seen."""
    from shared.app import restore
    from shared.incidents.notices import DeliveryReport, deliver
    from shared.notify.view import NoticeKind

    dedupe = record.source != Source.HEALTH
    if created:
        log.info(
            "incident %s opened: %s on %s", inc.incident_id, c.kind, inc.app_key,
            extra={"event": "incident_opened", "source": str(record.source)},
        )  # fmt: skip
    elif _SEVERITY.get(c.kind, 0) > _SEVERITY.get(Kind(inc.kind), 0):
        inc = await _raise_severity(deps.store, inc, candidate)

    notice: NoticeKind | None = NoticeKind.OPENED
    if restore.applies(deps.settings, inc):  # opt-in self-healing decides which notice opens (shared.app.restore)
        inc, restored = await restore.auto_restore(deps.restore, inc)
        notice = {"restored": NoticeKind.RESTORED, "in_progress": None}.get(restored, NoticeKind.OPENED)
    report = DeliveryReport()
    if notice is not None:
        inc, report = await deliver(deps.notices, inc, notice)
    if inc.next_verify_at is None:
        inc = await deps.scheduler.schedule(inc)
    if report.pending:
        raise TransientError(
            f"incident {inc.incident_id}: notice not delivered on {', '.join(report.failed)}",
            retry_after=report.retry_after,
        )
    if dedupe:
        outcome = f"{'opened' if created else 'attached'}:{inc.incident_id}"
        await deps.store.mark_seen(deps.settings.tenant_id, record.record_id, outcome)
    return RecordOutcome(**base, outcome="opened" if created else "attached", incident_id=inc.incident_id)


async def process_extraction(deps: PipelineDeps, extraction: Extraction) -> list[RecordOutcome]:
    """Classify and act on every record. All records are attempted; the first transient error is
    raised at the end so the platform retries the delivery (processed records dedupe)."""
    from shared.detect.classify import classify_extraction

    outcomes: list[RecordOutcome] = []
    first_error: TransientError | None = None
    for record, c in classify_extraction(extraction, deps.settings.catalogue):
        try:
            outcomes.append(await process_record(deps, record, c))
        except TransientError as exc:
            first_error = first_error or exc
            outcomes.append(RecordOutcome(record.record_id, str(c.kind), str(c.action), "retry"))
    for skipped in extraction.skipped:
        log.info("payload part skipped: %s", skipped)
    if first_error is not None:
        raise first_error
    return outcomes


def health_record(app_key: str, detail: str, object_id: str | None) -> AuditRecord:
    """A synthetic record for a broken state the timer found with no audit record behind it."""
    from shared.core.models import Initiator, TargetResource

    now = clock.now()
    return AuditRecord(
        record_id=f"health:{app_key}:{format_timestamp(now)}",
        activity=f"Health check: {detail}",
        source=Source.HEALTH,
        event_time=None,
        initiator=Initiator(kind="unknown", display_name="health check"),
        targets=(TargetResource(id=object_id),),
    )
