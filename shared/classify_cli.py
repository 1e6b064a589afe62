"""``python -m shared.cli classify FILE``: classify every audit record in a payload file, offline.

One compact JSON object per line per record, so the output pipes into ``jq`` and diffs cleanly.
The consent URL comes from the catalogue and the *configured* tenant (``common`` when none is
configured), never from the payload: a record that names another tenant or app cannot steer it.
A payload that cannot be read exits 2 with one line on stderr; nothing about it is retried.
"""

from __future__ import annotations

import json
import sys
from typing import Any, BinaryIO, TextIO

from shared.catalogue import Catalogue, consent_url
from shared.classify import Classification, classify
from shared.errors import PayloadError
from shared.models import Action, AlertWindow, AuditRecord
from shared.normalize import extract_json
from shared.timeutil import format_timestamp

MAX_FILE_BYTES = 10 * 1024 * 1024
NEEDS_QUERY_NOTE = "log search alerts carry no rows: the audit rows must be fetched from the workspace"


def _read(path: str) -> bytes:
    """At most ``MAX_FILE_BYTES + 1`` bytes, so an oversized file is refused without reading it all."""
    if path == "-":
        stream: BinaryIO | TextIO = getattr(sys.stdin, "buffer", sys.stdin)
        data = stream.read(MAX_FILE_BYTES + 1)
        return data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
    with open(path, "rb") as handle:
        return handle.read(MAX_FILE_BYTES + 1)


def record_line(
    record: AuditRecord, verdict: Classification, *, tenant_id: str | None, login_base: str
) -> dict[str, Any]:
    """The output object for one record (also what ``render`` and tests compare against)."""
    target = verdict.target or (record.targets[0] if record.targets else None)
    app = verdict.app
    line: dict[str, Any] = {
        "record_id": record.record_id,
        "activity": record.activity,
        "app_id": (app.app_id if app and app.app_id else None) or (target.app_id if target else None),
        "app": app.key if app else None,
        "tenant_id": record.tenant_id or tenant_id,
        "kind": verdict.kind.value,
        "action": verdict.action.value,
    }
    if verdict.action is Action.NOTIFY_CONSENT and app is not None:
        line["consent_url"] = consent_url(app, tenant_id or "common", login_base)
    line["event_time"] = format_timestamp(record.event_time) if record.event_time else None
    line["initiator"] = record.initiator.label
    line["source"] = record.source.value
    line["target_id"] = target.id if target else None
    line["rule"] = verdict.rule
    return line


def alert_line(window: AlertWindow) -> dict[str, Any]:
    return {
        "alert_id": window.alert_id,
        "rule": window.rule,
        "condition": window.condition,
        "window_start": format_timestamp(window.start),
        "window_end": format_timestamp(window.end),
        "workspace_id": window.workspace_id,
        "needs_query": True,
        "note": NEEDS_QUERY_NOTE,
    }


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]


def run_classify(
    path: str,
    *,
    tenant_id: str | None,
    login_base: str,
    identity_app_id: str | None,
    out: TextIO,
    err: TextIO,
) -> int:
    """Classify the payload in ``path`` (``-`` for stdin). Exit 0, or 2 with one line on ``err``.

    ``tenant_id``/``identity_app_id`` are the configured settings (already validated by the
    caller); skip notes (foreign event types, records without an activity) go to ``err`` as notes.
    """
    name = _one_line(path)
    try:
        catalogue = Catalogue(identity_app_id)
        if tenant_id is not None:
            consent_url(catalogue.integration, tenant_id, login_base)  # refuse a bad tenant up front
    except ValueError as exc:
        err.write(f"classify: {name}: configuration: {_one_line(str(exc))}\n")
        return 2
    try:
        extraction = extract_json(_read(path), limit=MAX_FILE_BYTES)
    except PayloadError as exc:
        err.write(f"classify: {name}: {_one_line(str(exc))}\n")
        return 2
    except OSError as exc:
        err.write(f"classify: {name}: {_one_line(exc.strerror or type(exc).__name__)}\n")
        return 2
    for record in extraction.records:
        line = record_line(record, classify(record, catalogue), tenant_id=tenant_id, login_base=login_base)
        out.write(json.dumps(line, separators=(",", ":"), ensure_ascii=False) + "\n")
    for window in extraction.alerts:
        out.write(json.dumps(alert_line(window), separators=(",", ":")) + "\n")
    for note in extraction.skipped:
        err.write(f"classify: {name}: note: {_one_line(note)}\n")
    return 0
