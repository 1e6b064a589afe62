"""Durable intake: what the push triggers hand to the ``webex-intake`` queue, and how they build it.

Event Grid gives an endpoint 30 s and retries slow answers; an action group retries a slow webhook
too. Doing Graph, Table, Log Analytics and notification I/O inside those calls ties the ack to the
slowest API (a throttled Graph would turn one deletion into a retry storm). So the triggers only do
CPU work here — parse, normalize, classify, drop what is not about Webex — and write one durable
queue message (several for a large batch); the intake queue trigger does the rest, with the queue's
own retries and poison queue behind it.

A Storage queue message is at most 64 KiB *after* the host's base64 encoding (4/3 growth), so a
message's JSON text is kept under :data:`MAX_TEXT_BYTES` (45 KiB → 60 KiB encoded).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.core.errors import ConfigError, PayloadError

if TYPE_CHECKING:
    from shared.core.catalogue import Catalogue
    from shared.core.models import AlertWindow, Extraction

MAX_ENCODED_BYTES = 60 * 1024
MAX_TEXT_BYTES = MAX_ENCODED_BYTES * 3 // 4
"""Largest JSON text of one message: base64 makes it :data:`MAX_ENCODED_BYTES` on the queue."""

MAX_MESSAGE_READ = 64 * 1024

MAX_ALERTS_PER_REQUEST = 50
"""An action group posts one alert a request; a batch past this is not Azure Monitor (400)."""
MAX_ALERT_WINDOW = timedelta(days=2)
"""Longest alert window re-queried (the shipped rule looks back 10 min; Microsoft's sample spans 2 days)."""
MAX_WINDOW_SKEW = timedelta(hours=1)
"""How far after "now" a window may end (clock skew); Azure Monitor sends windows that have ended."""
EARLIEST_WINDOW = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class IntakeMessage:
    """Records (already normalized, about a Webex app) and alert windows to re-query."""

    origin: str  # eventgrid | alert
    ref: str  # the event id or alert id, for the logs
    records: tuple[dict[str, Any], ...] = ()
    alerts: tuple[dict[str, Any], ...] = ()
    v: int = 1

    def to_json(self) -> str:
        body = {"v": self.v, "origin": self.origin, "ref": self.ref, "records": self.records, "alerts": self.alerts}
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> IntakeMessage:
        """Parse a queue body; :class:`PayloadError` means permanently bad (drop, do not retry)."""
        from shared.detect.payload import parse_json

        raw = parse_json(text, limit=MAX_MESSAGE_READ)
        if not isinstance(raw, dict) or raw.get("v") != 1:
            raise PayloadError("intake message: not a version 1 object")
        origin, ref = raw.get("origin"), raw.get("ref")
        records, alerts = raw.get("records", []), raw.get("alerts", [])
        if not isinstance(origin, str) or not isinstance(ref, str):
            raise PayloadError("intake message: origin and ref must be text")
        if not isinstance(records, list) or not isinstance(alerts, list):
            raise PayloadError("intake message: records and alerts must be arrays")
        msg = cls(origin=origin[:64], ref=ref[:256], records=tuple(records), alerts=tuple(alerts))
        msg.extraction()  # validate every part now: a bad one fails the whole message, clearly
        return msg

    def extraction(self) -> Extraction:
        from shared.core.models import Extraction
        from shared.core.record_codec import record_from_dict, window_from_dict

        return Extraction(
            records=[record_from_dict(r) for r in self.records],
            alerts=[window_from_dict(a) for a in self.alerts],
        )


def decode_all(bodies: list[str]) -> list[IntakeMessage]:
    """Queue bodies taken off the intake queue, read; a permanently bad one is skipped, as the
    intake trigger drops it (for the demo and tools that run the app's work outside the host)."""
    out: list[IntakeMessage] = []
    for body in bodies:
        try:
            out.append(IntakeMessage.from_json(body))
        except PayloadError:
            continue
    return out


@dataclass(slots=True)
class Intake:
    """What a pushed payload came to: the messages to enqueue and counts for the answer/log."""

    messages: list[IntakeMessage] = field(default_factory=list)
    records: int = 0
    alerts: int = 0
    dropped: int = 0
    resolved: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def encoded(self) -> list[str]:
        """The messages as the intake queue carries them (JSON text; the queue client sends text)."""
        return [message.to_json() for message in self.messages]

    def summary(self) -> dict[str, Any]:
        return {
            "queued": len(self.messages),
            "records": self.records,
            "alerts": self.alerts,
            "dropped": self.dropped,
            "resolved": self.resolved,
            "skipped": self.skipped[:20],
        }


def window_problem(window: AlertWindow, *, workspace_id: str | None, now: datetime) -> str | None:
    """Why the workspace must not be queried for ``window``, or ``None`` when it may be.

    The alert body is untrusted (anyone with the function key can post one): it may only choose a
    short, past window in the configured workspace. ``workspace_id`` is ``LOG_ANALYTICS_WORKSPACE_ID``.
    """
    start, end = window.start, window.end
    if end < start:
        return "the alert window ends before it starts"
    if end - start > MAX_ALERT_WINDOW:
        hours, cap = (end - start) // timedelta(hours=1), MAX_ALERT_WINDOW // timedelta(hours=1)
        return f"the alert window is {hours} h long; at most {cap} h is re-queried"
    if start < EARLIEST_WINDOW or end > now + MAX_WINDOW_SKEW:
        return "the alert window is not in the past (it ends in the future or starts before 1970)"
    named = (window.workspace_id or "").strip().lower()
    if named and workspace_id is None:
        return "the alert names a workspace and LOG_ANALYTICS_WORKSPACE_ID is not set"
    if named and named != (workspace_id or "").lower():
        return "the alert is about a workspace other than the configured LOG_ANALYTICS_WORKSPACE_ID"
    return None


def admit_alerts(extraction: Extraction, *, workspace_id: str | None, now: datetime) -> None:
    """Entry check of the push triggers: refuse, before anything is queued, an alert payload that
    would make the intake query what the sender chose.

    :class:`PayloadError` (400: final for an action group, which retries only 408/429/503/504) for
    more than :data:`MAX_ALERTS_PER_REQUEST` alerts or any bad window (:func:`window_problem`);
    :class:`ConfigError` when a window needs re-querying and no workspace is configured.
    """
    count = len(extraction.alerts)
    if count > MAX_ALERTS_PER_REQUEST:
        raise PayloadError(f"{count} alerts in one request; at most {MAX_ALERTS_PER_REQUEST} are accepted")
    for n, window in enumerate(extraction.alerts, 1):
        if workspace_id is None and window.condition.lower() != "resolved":
            raise ConfigError(["LOG_ANALYTICS_WORKSPACE_ID: missing (needed to re-query log search alerts)"])
        problem = window_problem(window, workspace_id=workspace_id, now=now)
        if problem:
            raise PayloadError(f"alert {n} of {count}: {problem}")


def _size(obj: Any) -> int:
    return len(json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")) + 1


def _pack(origin: str, ref: str, records: list[dict[str, Any]], alerts: list[dict[str, Any]]) -> list[IntakeMessage]:
    """Greedy split into messages whose JSON text stays under :data:`MAX_TEXT_BYTES`.

    The budget is what the envelope of *these* ``origin`` and ``ref`` leaves: a ref of control
    characters is six times longer once escaped, so a fixed allowance could be overrun. Each item
    counts one comma more than it needs (one byte of margin a message)."""
    budget = MAX_TEXT_BYTES - len(IntakeMessage(origin, ref).to_json().encode("utf-8"))
    out: list[IntakeMessage] = []
    cur_r: list[dict[str, Any]] = []
    cur_a: list[dict[str, Any]] = []
    used = 0
    for kind, item in [("r", r) for r in records] + [("a", a) for a in alerts]:
        size = _size(item)
        if size > budget:
            raise PayloadError("a record is too large for the intake queue", status=413)
        if used + size > budget:
            out.append(IntakeMessage(origin, ref, tuple(cur_r), tuple(cur_a)))
            cur_r, cur_a, used = [], [], 0
        (cur_r if kind == "r" else cur_a).append(item)
        used += size
    if cur_r or cur_a:
        out.append(IntakeMessage(origin, ref, tuple(cur_r), tuple(cur_a)))
    return out


def prepare(extraction: Extraction, catalogue: Catalogue, *, origin: str, ref: str) -> Intake:
    """Classify an extraction (CPU only) and pack what needs work into intake messages.

    Dropped here: records about other apps (``unrelated``; the rules table decides) and ``Resolved``
    alerts (a resolved alert closes nothing; only a verification run resolves an incident).
    """
    from shared.core.models import Kind
    from shared.core.record_codec import record_to_dict, window_to_dict
    from shared.detect.classify import classify

    result = Intake(skipped=list(extraction.skipped))
    keep: list[dict[str, Any]] = []
    for record in extraction.records:
        if classify(record, catalogue).kind == Kind.UNRELATED:
            result.dropped += 1
        else:
            keep.append(record_to_dict(record))
    windows: list[dict[str, Any]] = []
    for window in extraction.alerts:
        if window.condition.lower() == "resolved":
            result.resolved.append(window.alert_id)
        else:
            windows.append(window_to_dict(window))
    result.records, result.alerts = len(keep), len(windows)
    result.messages = _pack(origin, ref[:256], keep, windows)
    return result
