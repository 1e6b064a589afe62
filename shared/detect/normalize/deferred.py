"""Audit records whose fields past id and activity are normalized only when someone reads them.

Nearly every record in a real tenant's audit log is about users, groups and devices: its activity
is in no row of the rules table (:data:`shared.detect.classify.RULE_ACTIVITIES`), so the classifier calls
it ``unrelated`` from the activity alone. Normalizing the rest of such a record (initiator, times,
targets with their JSON-encoded modified properties, additional details) is most of the cost of
extraction, so for those records it is deferred: the record keeps the raw object and fills every
other field on first access. Nothing is lost — the CLI, a test or a log line that reads ``targets``
gets exactly what eager normalization gives, and the record still compares, hashes and prints as
an :class:`AuditRecord` with the same values.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from typing import Any

from shared.core.models import AuditRecord, Initiator, Source, TargetResource

Summary = tuple[
    str | None,  # tenant_id
    datetime | None,  # event_time
    Initiator,
    str | None,  # the first target's id
    str | None,  # the first target's app id
]
"""What a ``classify`` line shows of a record (shared/cli/classify.py), short of the targets."""

Rest = tuple[
    str | None,  # tenant_id
    datetime | None,  # event_time
    datetime | None,  # ingested_time
    str | None,  # result
    str | None,  # category
    str | None,  # correlation_id
    str | None,  # logged_by_service
    Initiator,
    tuple[TargetResource, ...],
    tuple[tuple[str, str], ...],
]
"""The deferred fields, in :class:`AuditRecord` order (everything after ``source``)."""

DEFERRED_FIELDS = (
    "tenant_id", "event_time", "ingested_time", "result", "category", "correlation_id",
    "logged_by_service", "initiator", "targets", "additional_details",
)  # fmt: skip


class DeferredRecord(AuditRecord):
    """An :class:`AuditRecord` whose :data:`DEFERRED_FIELDS` are computed on first read.

    Immutable like its base: the fill caches a pure function of the raw record, once.
    """

    __slots__ = ("_pending", "_summary", "_text")
    _text: bytes | None
    _summary: Callable[[], Summary] | None

    @classmethod
    def create(
        cls,
        record_id: str,
        activity: str,
        source: Source,
        compute: Callable[[], Rest],
        text: bytes | None = None,
        *,
        summary: Callable[[], Summary] | None = None,
    ) -> DeferredRecord:
        """A record with its three eager fields set and ``compute`` to fill the rest on first read.

        ``text``, when given, is the whole record as lower-cased ASCII JSON in which every name and
        app id the normalized record can hold appears literally (see :meth:`may_mention`).
        ``summary``, when given, computes :meth:`line_summary` without filling the record.

        Built without the dataclass ``__init__``, which would assign (through the descriptors) the
        ten fields that are about to be deferred: that alone cost as much as the activity check.
        The slots are set through their descriptors' setters, bound once at import (a third cheaper
        than looking each up per record; this runs once per record of every page).
        """
        record = cls.__new__(cls)
        _SET_ID(record, record_id)
        _SET_ACTIVITY(record, activity)
        _SET_SOURCE(record, source)
        _SET_PENDING(record, compute)
        _SET_TEXT(record, text)
        _SET_SUMMARY(record, summary)
        return record

    def line_summary(self) -> Summary | None:
        """``(tenant_id, event_time, initiator, first target id, its app id)`` exactly as the filled
        record would give them, computed without normalizing every target, property and detail
        (most of the fill's cost); ``None`` once filled or when no summary was given."""
        summary = self._summary
        if summary is None or getattr(self, "_pending", None) is None:
            return None
        return summary()

    def may_mention(self, needles: tuple[bytes, ...]) -> bool:
        """Answered from the record's text when it was kept: an app id or name the normalized record
        holds is a substring of it, lower-cased (the caller guarantees the text is ASCII and holds no
        escaped backslash, so no escape sequence can spell a name differently)."""
        text = self._text
        if text is None:
            return True
        return any(needle in text for needle in needles)

    def __eq__(self, other: object) -> bool:
        """Equal to any :class:`AuditRecord` (deferred or not) with the same field values."""
        if not isinstance(other, AuditRecord):
            return NotImplemented
        return _values(self) == _values(other)

    def __hash__(self) -> int:
        return hash(_values(self))

    def fill(self) -> None:
        """Compute the deferred fields now (idempotent)."""
        compute = getattr(self, "_pending", None)
        if compute is None:
            return
        for slot, value in zip(_SLOTS, compute(), strict=True):
            slot.__set__(self, value)
        object.__setattr__(self, "_pending", None)


class _Deferred:
    """Descriptor over one dataclass slot of :class:`AuditRecord` that fills the record first."""

    __slots__ = ("slot",)

    def __init__(self, name: str) -> None:
        self.slot: Any = AuditRecord.__dict__[name]

    def __get__(self, obj: DeferredRecord | None, owner: type[Any]) -> Any:
        if obj is None:
            return self
        obj.fill()
        return self.slot.__get__(obj, owner)

    def __set__(self, obj: DeferredRecord, value: Any) -> None:  # the dataclass __init__ only
        self.slot.__set__(obj, value)


def _values(record: AuditRecord) -> tuple[Any, ...]:
    return tuple(getattr(record, f.name) for f in _FIELDS)


_FIELDS = dataclasses.fields(AuditRecord)
_SET_ID: Callable[[Any, Any], None] = AuditRecord.__dict__["record_id"].__set__
_SET_ACTIVITY: Callable[[Any, Any], None] = AuditRecord.__dict__["activity"].__set__
_SET_SOURCE: Callable[[Any, Any], None] = AuditRecord.__dict__["source"].__set__
_SET_PENDING: Callable[[Any, Any], None] = DeferredRecord.__dict__["_pending"].__set__
_SET_TEXT: Callable[[Any, Any], None] = DeferredRecord.__dict__["_text"].__set__
_SET_SUMMARY: Callable[[Any, Any], None] = DeferredRecord.__dict__["_summary"].__set__
_SLOTS = tuple(AuditRecord.__dict__[name] for name in DEFERRED_FIELDS)
for _name in DEFERRED_FIELDS:
    setattr(DeferredRecord, _name, _Deferred(_name))
