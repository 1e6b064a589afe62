"""What the timer sees, read as the audit record it stands for, so the rules table decides its kind.

The timer finds broken states that no audit record announced — a Webex service principal gone, in
the recycle bin or disabled, its admin consent missing — and the service-principal delta reports
removals. Each such :class:`Finding` is written here as the Entra change that leaves that state (a
soft delete, a hard delete, an ``AccountEnabled`` update to false, a removed delegated grant) on a
target naming the catalogue app, and :func:`shared.detect.classify.classify` decides its kind and
action from :data:`shared.detect.classify.RULES`, as for any pushed record. No other module maps a
state to a kind: a rule row changed there changes what the timer opens too.

The records built here never leave this module: the incident keeps the timer's own record (its
"Health check: …" activity and the object id), and the text in them comes from the catalogue and from
Graph's answers, never from an event.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TYPE_CHECKING

from shared.core.models import AuditRecord, Initiator, ModifiedProperty, Source, TargetResource
from shared.detect.classify import Classification, classify, unrelated

if TYPE_CHECKING:
    from shared.core.catalogue import Catalogue


class Seen(StrEnum):
    """A broken state of one Webex app's service principal, as the timer or the delta saw it."""

    IN_RECYCLE_BIN = "in_recycle_bin"  # soft-deleted: restorable for 30 days
    GONE = "gone"  # not present and not in the recycle bin: hard-deleted
    DISABLED = "disabled"  # present, accountEnabled false
    CONSENT_MISSING = "consent_missing"  # present and enabled, its admin consent is not


_STANDS_FOR: dict[Seen, tuple[str, tuple[ModifiedProperty, ...]]] = {
    Seen.IN_RECYCLE_BIN: ("Delete service principal", ()),
    Seen.GONE: ("Hard delete service principal", ()),
    Seen.DISABLED: ("Update service principal", (ModifiedProperty("AccountEnabled", [True], [False]),)),
    Seen.CONSENT_MISSING: ("Remove delegated permission grant", ()),
}
"""Each state → the Entra activity (as Entra writes it) and modified properties that leave it."""


@dataclass(frozen=True, slots=True)
class Finding:
    """``seen`` on the catalogue app ``app_key``. ``app_id`` is the appId Graph showed for it (the
    Identity app's, found by name when none is configured); ``detail`` is the timer's own words."""

    app_key: str
    seen: Seen
    object_id: str | None = None
    detail: str = ""
    app_id: str | None = None


def finding_record(finding: Finding, catalogue: Catalogue) -> AuditRecord | None:
    """The audit record ``finding`` stands for; ``None`` when ``app_key`` is not a catalogue app."""
    app = catalogue.by_key(finding.app_key)
    if app is None:
        return None
    activity, modified = _STANDS_FOR[finding.seen]
    target = TargetResource(
        id=finding.object_id,
        display_name=app.display_name,
        type="ServicePrincipal",
        app_id=app.app_id or finding.app_id,
        modified=modified,
    )
    return AuditRecord(
        record_id=f"finding:{app.key}:{finding.seen}",
        activity=activity,
        source=Source.HEALTH,
        initiator=Initiator(kind="unknown", display_name="health check"),
        targets=(target,),
    )


def classify_finding(finding: Finding, catalogue: Catalogue) -> Classification:
    """The rules' verdict on ``finding``. Its ``app`` carries the appId Graph showed when the
    catalogue has none (the incident records which Identity app it is about)."""
    record = finding_record(finding, catalogue)
    if record is None:
        return unrelated("not-a-webex-app")
    verdict = classify(record, catalogue)
    app = verdict.app
    if app is not None and not app.app_id and finding.app_id:
        verdict = replace(verdict, app=replace(app, app_id=finding.app_id))
    return verdict
