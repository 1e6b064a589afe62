"""The typed shapes everything else agrees on.

Every detection path (Graph ``directoryAudit``, Log Analytics ``AuditLogs``, the diagnostic-settings
stream, Event Grid envelopes, the health check) is normalized to one :class:`AuditRecord`, so the
classifier and the incident logic never see a payload's casing or nesting. Plain frozen dataclasses
with slots: classification runs at 100k records/s, which a validating model would not reach.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    """What happened to a Webex app (docs/contracts.md, "Classification kinds")."""

    INTEGRATION_DELETED = "integration_deleted"
    INTEGRATION_HARD_DELETED = "integration_hard_deleted"
    IDENTITY_APP_DELETED = "identity_app_deleted"
    INTEGRATION_DISABLED = "integration_disabled"
    CONSENT_REVOKED = "consent_revoked"
    INTEGRATION_RESTORED = "integration_restored"
    UNRELATED = "unrelated"


class Action(StrEnum):
    """What the project does about it (docs/contracts.md, "Actions")."""

    NOTIFY_CONSENT = "notify_consent"
    NOTIFY_REENABLE = "notify_reenable"
    NOTIFY_REPROVISION = "notify_reprovision"
    VERIFY = "verify"
    IGNORE = "ignore"


class Source(StrEnum):
    """Where a record came from; kept on the incident so people see every path that fired."""

    GRAPH = "graph"  # Graph directoryAudit (poll or Event Grid payload)
    LOG_ANALYTICS = "loganalytics"  # AuditLogs row (alert re-query or Event Grid payload)
    DIAGNOSTIC = "diagnostic"  # diagnostic-settings stream records[]
    HEALTH = "health"  # the timer's state check (no audit record behind it)


@dataclass(frozen=True, slots=True)
class Initiator:
    """Who did it. ``kind`` is ``user``, ``app`` or ``unknown``. All text is untrusted."""

    kind: str = "unknown"
    id: str | None = None
    display_name: str | None = None
    user_principal_name: str | None = None
    ip_address: str | None = None

    @property
    def label(self) -> str:
        """A one-line human label: UPN for users, name for apps."""
        return self.user_principal_name or self.display_name or self.id or "unknown"


@dataclass(frozen=True, slots=True)
class ModifiedProperty:
    """One changed property. ``old``/``new`` are decoded from the JSON-encoded strings Entra sends
    (``"[true]"`` → ``[True]``); the raw text is kept when it is not JSON."""

    name: str
    old: Any = None
    new: Any = None


@dataclass(frozen=True, slots=True)
class TargetResource:
    """A target of the audited activity (a service principal, for the records we act on)."""

    id: str | None = None
    display_name: str | None = None
    type: str | None = None
    app_id: str | None = None
    modified: tuple[ModifiedProperty, ...] = ()

    def property(self, name: str) -> ModifiedProperty | None:
        """The modified property ``name`` (case-insensitive), if present."""
        lowered = name.lower()
        for prop in self.modified:
            if prop.name.lower() == lowered:
                return prop
        return None


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One audited directory change, whatever shape it arrived in.

    ``record_id`` is the audit record's own id (``Directory_<correlation>_<code>_<n>`` in real data,
    a GUID in docs): the same change seen by Event Grid, the alert re-query and the timer's poll has
    the same id, which is what makes the dedupe work across sources.
    """

    record_id: str
    activity: str
    source: Source
    tenant_id: str | None = None
    event_time: datetime | None = None
    ingested_time: datetime | None = None
    result: str | None = None
    category: str | None = None
    correlation_id: str | None = None
    logged_by_service: str | None = None
    initiator: Initiator = field(default_factory=Initiator)
    targets: tuple[TargetResource, ...] = ()
    additional_details: tuple[tuple[str, str], ...] = ()

    def detail(self, key: str) -> str | None:
        """An ``additionalDetails`` value by key (case-insensitive)."""
        lowered = key.lower()
        for k, v in self.additional_details:
            if k.lower() == lowered:
                return v
        return None

    def may_mention(self, needles: tuple[bytes, ...]) -> bool:
        """Whether this record could name one of ``needles`` (lower-case ASCII app ids or names).

        ``True`` unless the record knows better: a record decoded by the typed lane keeps its text and
        answers from it (normalize/deferred.py), which lets the classifier skip normalizing the targets
        of the many service-principal changes that are about other apps.
        """
        return True


@dataclass(frozen=True, slots=True)
class AlertWindow:
    """A log-search alert that carried no rows: the time span to re-query the workspace for.

    ``alert_id`` + ``condition`` identify a delivery, so duplicates (action-group retries) are
    recognised; ``Resolved`` alerts are reported but close nothing by themselves.
    """

    alert_id: str
    rule: str | None
    condition: str  # "Fired" or "Resolved"
    start: datetime
    end: datetime
    workspace_id: str | None = None
    fired_time: datetime | None = None


@dataclass(slots=True)
class Extraction:
    """What a payload held: audit records, and alert windows whose rows must be fetched."""

    records: list[AuditRecord] = field(default_factory=list)
    alerts: list[AlertWindow] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # why parts were ignored (unknown event types)
