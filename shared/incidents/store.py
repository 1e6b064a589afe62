"""Incidents in Azure Table storage: one open incident per tenant + app, whatever the source.

Row layout in one table, partitioned by tenant id (so many tenants can share a deployment):

``open-<app>``       the open incident of that app. Its key *is* the "one open incident" rule:
                     opening is ``create_entity`` (insert-if-absent); a second source or a second
                     worker gets ``ResourceExistsError`` (409) and attaches to the existing row.
``closed-<id>``      the archived copy of a resolved incident.
``seen-<hash>``      an audit record already processed (dedupe across Event Grid, the alert
                     re-query and the timer's poll, which all see the same record id).
``last-<app>``       when that app's last incident was resolved: deletion records older than that
                     arrive late (alerts lag by minutes) and must not reopen a fixed outage.

Every change to an open incident is an ETag-checked replace (:meth:`IncidentStore.mutate`): a
``ResourceModifiedError`` (412) means another worker changed it first, so we re-read and re-apply.
Never check-then-write.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.clients.table import etag_of
from shared.core.clock import clock, format_timestamp, parse_timestamp
from shared.core.errors import TransientError
from shared.incidents.lifecycle import State, Step, reached

__all__ = ["ConflictExhaustedError", "Delivery", "Incident", "IncidentStore", "State", "cut", "new_incident_id"]

if TYPE_CHECKING:
    from shared.clients.table import Table

MAX_TEXT = 1024
"""Untrusted text is cut to this many characters before it is stored."""

_MUTATE_ATTEMPTS = 8
MAX_HISTORY = 50
"""An incident keeps its last this many history entries (a table property holds at most 64 KiB)."""


def _cut(value: str | None) -> str | None:
    if value is None:
        return None
    return value[:MAX_TEXT]


@dataclass(frozen=True, slots=True)
class Delivery:
    """One notice on one channel. ``claimed`` guards against two workers sending at once; a claim
    older than the lease is taken over (the sender crashed), which is the one documented duplicate
    window: a crash after the send and before ``sent`` is recorded."""

    status: str  # claimed | sent | failed
    at: str
    attempts: int = 0
    ref: str | None = None
    error: str | None = None
    retry_after: float | None = None
    permanent: bool = False


@dataclass(frozen=True, slots=True)
class Incident:
    """An outage of one Webex app in one tenant, from detection to resolution."""

    tenant_id: str
    app_key: str
    app_id: str | None
    incident_id: str
    kind: str
    action: str
    state: str
    opened_at: datetime
    updated_at: datetime
    first_record_id: str
    activity: str | None = None
    initiator_kind: str | None = None
    initiator_label: str | None = None
    event_time: datetime | None = None
    target_object_id: str | None = None
    soft_or_hard: str | None = None
    sources: tuple[str, ...] = ()
    record_count: int = 1
    deliveries: dict[str, Delivery] = field(default_factory=dict)
    verify_attempts: int = 0
    next_verify_at: datetime | None = None
    last_verdict: str | None = None
    last_reminder_at: datetime | None = None
    resolved_at: datetime | None = None
    escalated_at: datetime | None = None
    restore_attempted: bool = False
    restore_outcome: str | None = None  # claimed | restored | impossible | failed (shared.app.restore)
    restore_at: datetime | None = None
    reason: str | None = None
    acknowledged_at: datetime | None = None  # reminders stop (not escalation): shared/app/actions.py
    check_now_at: datetime | None = None  # the last "Check now" click (its rate limit)
    history: tuple[tuple[str, str], ...] = ()  # (ISO time, event) of actions taken from a notice's links
    etag: str | None = None

    @property
    def is_open(self) -> bool:
        return self.state not in (State.RESOLVED,)

    @property
    def reminders_on(self) -> bool:
        """Reminders go out while the incident is neither escalated (the escalation notice replaces
        them) nor acknowledged from a notice's link (someone is on it)."""
        return self.escalated_at is None and self.acknowledged_at is None

    @property
    def time_to_recover(self) -> timedelta | None:
        if self.resolved_at is None:
            return None
        start = min(t for t in (self.event_time, self.opened_at) if t is not None)
        return self.resolved_at - start

    def delivery(self, channel: str, notice: str) -> Delivery | None:
        return self.deliveries.get(f"{channel}/{notice}")

    # --- table mapping -------------------------------------------------------------------------
    def to_entity(self, row_key: str) -> dict[str, Any]:
        entity: dict[str, Any] = {"PartitionKey": self.tenant_id, "RowKey": row_key}
        for name in (
            "tenant_id", "app_key", "app_id", "incident_id", "kind", "action", "state", "first_record_id",
            "activity", "initiator_kind", "initiator_label", "target_object_id", "soft_or_hard",
            "last_verdict", "reason", "restore_outcome",
        ):  # fmt: skip
            value = getattr(self, name)
            if value is not None:
                entity[name] = value
        for name in (
            "opened_at", "updated_at", "event_time", "next_verify_at", "last_reminder_at", "resolved_at",
            "escalated_at", "restore_at", "acknowledged_at", "check_now_at",
        ):  # fmt: skip
            value = getattr(self, name)
            if value is not None:
                entity[name] = format_timestamp(value)
        if self.history:
            entity["history"] = json.dumps([list(h) for h in self.history[-MAX_HISTORY:]])
        entity["sources"] = json.dumps(list(self.sources))
        entity["record_count"] = self.record_count
        entity["verify_attempts"] = self.verify_attempts
        entity["restore_attempted"] = self.restore_attempted
        entity["deliveries"] = json.dumps({k: asdict(v) for k, v in self.deliveries.items()}, sort_keys=True)
        return entity

    @classmethod
    def from_entity(cls, entity: Any) -> Incident:
        def ts(name: str) -> datetime | None:
            return parse_timestamp(entity.get(name))

        deliveries_raw = json.loads(entity.get("deliveries") or "{}")
        etag = etag_of(entity)
        opened = ts("opened_at") or clock.now()
        return cls(
            tenant_id=entity["tenant_id"],
            app_key=entity["app_key"],
            app_id=entity.get("app_id"),
            incident_id=entity["incident_id"],
            kind=entity["kind"],
            action=entity["action"],
            state=entity["state"],
            opened_at=opened,
            updated_at=ts("updated_at") or opened,
            first_record_id=entity.get("first_record_id", ""),
            activity=entity.get("activity"),
            initiator_kind=entity.get("initiator_kind"),
            initiator_label=entity.get("initiator_label"),
            event_time=ts("event_time"),
            target_object_id=entity.get("target_object_id"),
            soft_or_hard=entity.get("soft_or_hard"),
            sources=tuple(json.loads(entity.get("sources") or "[]")),
            record_count=int(entity.get("record_count") or 1),
            deliveries={k: Delivery(**v) for k, v in deliveries_raw.items()},
            verify_attempts=int(entity.get("verify_attempts") or 0),
            next_verify_at=ts("next_verify_at"),
            last_verdict=entity.get("last_verdict"),
            last_reminder_at=ts("last_reminder_at"),
            resolved_at=ts("resolved_at"),
            escalated_at=ts("escalated_at"),
            restore_attempted=bool(entity.get("restore_attempted", False)),
            restore_outcome=entity.get("restore_outcome"),
            restore_at=ts("restore_at"),
            reason=entity.get("reason"),
            acknowledged_at=ts("acknowledged_at"),
            check_now_at=ts("check_now_at"),
            history=tuple((str(at), str(what)) for at, what in json.loads(entity.get("history") or "[]")),
            etag=etag,
        )


def new_incident_id(app_key: str, now: datetime) -> str:
    """Readable and unique: ``inc-20261129T052455Z-integration-3f9a1c``."""
    return f"inc-{now.strftime('%Y%m%dT%H%M%SZ')}-{app_key}-{secrets.token_hex(3)}"


def open_key(app_key: str) -> str:
    return f"open-{app_key}"


def seen_key(record_id: str) -> str:
    """Record ids are not always GUIDs and may hold characters tables refuse (``/ \\ # ?``)."""
    return "seen-" + hashlib.sha256(record_id.encode("utf-8", "surrogatepass")).hexdigest()[:40]


class ConflictExhaustedError(TransientError):
    """Too many concurrent writers on one incident; the invocation fails and is retried."""


class IncidentStore:
    """Incident rows over the one table module (:class:`shared.clients.table.Table`)."""

    def __init__(self, table: Table) -> None:
        self._table = table

    async def ensure_table(self) -> None:
        await self._table.ensure()

    async def close(self) -> None:
        await self._table.close()

    # --- reads -----------------------------------------------------------------------------------
    async def get_open(self, tenant_id: str, app_key: str) -> Incident | None:
        entity = await self._table.get(tenant_id, open_key(app_key))
        return None if entity is None else Incident.from_entity(entity)

    async def open_incidents(self, tenant_id: str) -> dict[str, Incident]:
        """Every open incident of a tenant by app key, in one query (a sweep asks about all its apps)."""
        query = "PartitionKey eq @pk and RowKey ge 'open-' and RowKey lt 'open.'"
        rows = await self._table.query(query, {"pk": tenant_id})
        return {str(entity["RowKey"]).removeprefix("open-"): Incident.from_entity(entity) for entity in rows}

    async def get_closed(self, tenant_id: str, incident_id: str) -> Incident | None:
        entity = await self._table.get(tenant_id, f"closed-{incident_id}")
        return None if entity is None else Incident.from_entity(entity)

    async def list_incidents(self, tenant_id: str) -> list[Incident]:
        """Open and closed incidents of a tenant (for the CLI, the demo and tests)."""
        query = (
            "PartitionKey eq @pk and "
            "(RowKey ge 'closed-' and RowKey lt 'closed.' or RowKey ge 'open-' and RowKey lt 'open.')"
        )
        return [Incident.from_entity(entity) for entity in await self._table.query(query, {"pk": tenant_id})]

    # --- writes ----------------------------------------------------------------------------------
    async def open_or_attach(self, incident: Incident, source: str) -> tuple[Incident, bool]:
        """Insert ``incident`` as the open incident of its app, or attach ``source`` to the one
        already open. Returns the stored incident and whether this call created it."""
        etag = await self._table.insert(incident.to_entity(open_key(incident.app_key)))
        if etag is not None:
            reached(Step.INCIDENT_INSERTED)
            return replace(incident, etag=etag), True

        def attach(current: Incident) -> Incident | None:
            # An audit record read after a state check opened the incident (it reached Graph late)
            # still says who did it.
            who = current.initiator_kind in (None, "unknown") and incident.initiator_kind not in (None, "unknown")
            if source in current.sources and not who:
                return None
            sources = current.sources if source in current.sources else (*current.sources, source)
            attached = replace(current, sources=sources, record_count=current.record_count + 1)
            if who:
                attached = replace(
                    attached, initiator_kind=incident.initiator_kind, initiator_label=incident.initiator_label
                )
            return attached

        current = await self.mutate(incident.tenant_id, incident.app_key, attach)
        if current is None:  # resolved and archived between our insert and our read: open anew
            return await self.open_or_attach(incident, source)
        reached(Step.INCIDENT_ATTACHED)
        return current, False

    async def mutate(
        self,
        tenant_id: str,
        app_key: str,
        change: Callable[[Incident], Incident | None],
        *,
        known: Incident | None = None,
    ) -> Incident | None:
        """Apply ``change`` to the open incident with an ETag-checked replace, re-reading and
        re-applying on a 412. ``change`` is pure and returns ``None`` for "nothing to do".
        Returns the incident as stored afterwards (``None`` if there is no open incident).

        ``known`` is the caller's latest copy (as a previous ``mutate`` returned it): the first
        attempt applies ``change`` to it and skips the read — the ETag check still refuses it if
        anyone wrote since, and the loop then re-reads (as it does when ``change`` finds nothing to
        do on the copy). That saves one storage round trip per update on the notification path
        (claim, send, record on every channel)."""
        trusted = known if known is not None and known.etag and known.app_key == app_key else None
        for attempt in range(_MUTATE_ATTEMPTS):
            from_known = attempt == 0 and trusted is not None and trusted.tenant_id == tenant_id
            current = trusted if from_known else await self.get_open(tenant_id, app_key)
            if current is None:
                return None
            changed = change(current)
            if changed is None:
                if from_known:
                    continue  # "nothing to do" is only believed from a fresh read
                return current
            changed = replace(changed, updated_at=clock.now())
            etag = await self._table.replace(changed.to_entity(open_key(app_key)), current.etag)
            if etag is None:
                continue  # someone else won: re-read, re-apply
            return replace(changed, etag=etag)
        raise ConflictExhaustedError(f"incident {tenant_id}/{app_key}: too many concurrent updates")

    async def archive(self, incident: Incident) -> bool:
        """Move a resolved incident from ``open-<app>`` to ``closed-<id>`` and remember when the
        app recovered. Idempotent: a crash half-way is finished by the next call. Returns whether
        this call removed the open row."""
        closed = replace(incident, etag=None)
        await self._table.upsert(closed.to_entity(f"closed-{incident.incident_id}"))
        if incident.resolved_at is not None:
            await self._table.upsert(
                {
                    "PartitionKey": incident.tenant_id,
                    "RowKey": f"last-{incident.app_key}",
                    "resolved_at": format_timestamp(incident.resolved_at),
                    "incident_id": incident.incident_id,
                }
            )
        removed = await self._table.delete(incident.tenant_id, open_key(incident.app_key), etag=incident.etag)
        reached(Step.ARCHIVED)
        return removed

    async def last_resolved_at(self, tenant_id: str, app_key: str) -> datetime | None:
        entity = await self._table.get(tenant_id, f"last-{app_key}")
        return None if entity is None else parse_timestamp(entity.get("resolved_at"))

    async def was_seen(self, tenant_id: str, record_id: str) -> bool:
        return await self._table.get(tenant_id, seen_key(record_id), select=["RowKey"]) is not None

    async def mark_seen(self, tenant_id: str, record_id: str, outcome: str) -> bool:
        """Record that ``record_id`` was fully processed. Insert-if-absent; ``False`` if another
        delivery got there first. Written *after* processing, so a crash re-processes (idempotently)
        instead of losing the record."""
        etag = await self._table.insert(
            {
                "PartitionKey": tenant_id,
                "RowKey": seen_key(record_id),
                "record_id": record_id[:MAX_TEXT],
                "outcome": outcome[:MAX_TEXT],
                "at": format_timestamp(clock.now()),
            }
        )
        reached(Step.RECORD_SEEN)
        return etag is not None


def cut(value: str | None) -> str | None:
    """Public alias of the text cap, for callers building incidents from untrusted records."""
    return _cut(value)
