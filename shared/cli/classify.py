"""``python -m shared.cli classify FILE``: classify every audit record in an export file, offline.

One compact JSON object per line per record, so the output pipes into ``jq`` and diffs cleanly.
The consent URL comes from the catalogue and the *configured* tenant (``common`` when none is
configured), never from the payload: a record that names another tenant or app cannot steer it.

FILE may be of any size and any export format (docs/classify.md): it is read in batches by
:func:`shared.detect.normalize.exports.read_export`, and each batch is classified and printed before the
next is read, so memory stays bounded. A file that cannot be read at all, or that goes bad part-way,
exits 2 with one line on stderr naming the problem and where (byte offset or line); the records
before a break have been printed by then (skip notes are not: the error is the only stderr line).
Nothing about it is retried.
"""

from __future__ import annotations

import codecs
import errno
import gc
import io
import json
import os
import sys
from datetime import UTC, datetime
from typing import Any, BinaryIO, TextIO

import msgspec

from shared.core.catalogue import Catalogue, consent_url
from shared.core.clock import format_timestamp
from shared.core.errors import PayloadError
from shared.core.models import Action, AlertWindow, AuditRecord, Extraction, Source
from shared.detect.classify import NO_RULE, Classification, classify
from shared.detect.normalize.deferred import DeferredRecord
from shared.detect.normalize.export_lane import Glanced, Rendered

MAX_NOTES = 1000
"""Skip notes kept for stderr (they are written after the records, as the only lines on success);
the rest are counted, so a file of a million foreign items cannot fill memory with notes."""
_GC_EVERY = 50
"""Batches between garbage collections while a file is read. Records hold no reference cycles, so
reference counting frees each batch once it is printed; the collector's automatic passes would
only re-scan the live batch every few hundred allocations (about a sixth of the run time on a big
file). A collection every 50 batches still bounds anything cyclic that does appear."""
NEEDS_QUERY_NOTE = "log search alerts carry no rows: the audit rows must be fetched from the workspace"


def _open(path: str) -> BinaryIO:
    """The file, or stdin's bytes for ``-``."""
    if path == "-":
        stdin: Any = sys.stdin
        return getattr(stdin, "buffer", stdin)  # type: ignore[no-any-return]
    return open(path, "rb")


def record_line(
    record: AuditRecord, verdict: Classification, *, tenant_id: str | None, login_base: str
) -> dict[str, Any]:
    """The output object for one record (also what ``render`` and tests compare against)."""
    app = verdict.app
    summary = record.line_summary() if verdict.target is None and isinstance(record, DeferredRecord) else None
    if summary is not None:  # a record no rule reads, not normalized: the same values, cheaper
        record_tenant, event_time, initiator, target_id, target_app_id = summary
    else:
        target = verdict.target or (record.targets[0] if record.targets else None)
        record_tenant, event_time, initiator = record.tenant_id, record.event_time, record.initiator
        target_id, target_app_id = (target.id, target.app_id) if target else (None, None)
    line: dict[str, Any] = {
        "record_id": record.record_id,
        "activity": record.activity,
        "app_id": (app.app_id if app and app.app_id else None) or target_app_id,
        "app": app.key if app else None,
        "tenant_id": record_tenant or tenant_id,
        "kind": verdict.kind,  # StrEnum members: written as their values
        "action": verdict.action,
    }
    if verdict.action is Action.NOTIFY_CONSENT and app is not None:
        line["consent_url"] = consent_url(app, tenant_id or "common", login_base)
    line["event_time"] = _stamp(event_time) if event_time else None
    line["initiator"] = initiator.label
    line["source"] = record.source
    line["target_id"] = target_id
    line["rule"] = verdict.rule
    return line


def _stamp(value: datetime) -> str:
    """:func:`format_timestamp` (``YYYY-MM-DDTHH:MM:SS.ffffffZ``) of a UTC time, put together from
    the text of its hour (remembered: a month of records shares 720 hours) and tables of minutes and
    seconds: a third of the cost of ``%`` formatting, a fifth of ``datetime.replace`` plus ``isoformat``."""
    if value.tzinfo is UTC and value.year >= 1000:
        hour = (value.year, value.month, value.day, value.hour)
        prefix = _HOURS.get(hour)
        if prefix is None:
            if len(_HOURS) >= 4096:
                _HOURS.clear()
            year, month, day, at = hour
            prefix = _HOURS[hour] = f"{year:04d}-{month:02d}-{day:02d}T{at:02d}:"
        return prefix + _MINUTES[value.minute] + _SECONDS[value.second] + str(1_000_000 + value.microsecond)[1:] + "Z"
    return format_timestamp(value)


_HOURS: dict[tuple[int, ...], str] = {}
_MINUTES = tuple(f"{minute:02d}:" for minute in range(60))
_SECONDS = tuple(f"{second:02d}." for second in range(60))


class UnreadLine(msgspec.Struct, kw_only=True, gc=False):
    """:func:`record_line` of a record no rule reads (the verdict :data:`NO_RULE`: no app, no
    consent URL), as a struct: the same keys in the same order, encoded without a dict a record.
    The mapped lane of a Graph page builds these straight from its typed records
    (``export_lane.Render``); ``tests/unit/cli/test_classify_unread.py`` checks both agree."""

    record_id: str
    activity: str
    app_id: str | None
    app: None = None
    tenant_id: str | None
    kind: str = NO_RULE.kind
    action: str = NO_RULE.action
    event_time: str | None
    initiator: str
    source: str
    target_id: str | None
    rule: str = NO_RULE.rule


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
        stream = _open(path)
    except OSError as exc:
        err.write(f"classify: {name}: {_one_line(exc.strerror or type(exc).__name__)}\n")
        return 2
    writer = _Writer(catalogue, tenant_id, login_base, out)
    try:
        _classify_stream(stream, writer)
    except PayloadError as exc:
        out.flush()
        err.write(f"classify: {name}: {_one_line(str(exc))}\n")
        return 2
    except OSError as exc:
        err.write(f"classify: {name}: {_one_line(exc.strerror or type(exc).__name__)}\n")
        return 2
    finally:
        if stream is not getattr(sys.stdin, "buffer", sys.stdin):
            stream.close()
    for note in writer.notes:
        err.write(f"classify: {name}: note: {_one_line(note)}\n")
    if writer.more_notes:
        more = writer.more_notes
        err.write(f"classify: {name}: note: {more} more parts were skipped (only the first {MAX_NOTES} are listed)\n")
    return 0


def _classify_stream(stream: BinaryIO, writer: _Writer) -> None:
    """Read, classify and print the file batch by batch (see :data:`_GC_EVERY`)."""
    from shared.detect.normalize.exports import read_export

    collecting = gc.isenabled()
    gc.disable()
    try:
        for count, batch in enumerate(read_export(stream, render=writer.unread), start=1):
            writer.write(batch)
            if count % _GC_EVERY == 0:
                gc.collect()
    finally:
        if collecting:
            gc.enable()


class _Writer:
    """Classifies a batch and writes its lines in one call; ``msgspec`` encodes them (the same
    text ``json.dumps(..., ensure_ascii=False)`` gives), ``json`` only for text msgspec refuses."""

    def __init__(self, catalogue: Catalogue, tenant_id: str | None, login_base: str, out: TextIO) -> None:
        self._catalogue = catalogue
        self._tenant_id = tenant_id
        self._login_base = login_base
        self._out = out
        self._bytes_out = _utf8_buffer(out)
        self._encode_lines = msgspec.json.Encoder().encode_lines
        self.notes: list[str] = []  # the first MAX_NOTES skip notes, for stderr after the records
        self.more_notes = 0

    def _lines(self, objs: list[Any]) -> bytes | str:
        """One JSON text a line, newline-terminated: one msgspec call for the whole batch (UTF-8)."""
        try:
            return self._encode_lines(objs)
        except (UnicodeEncodeError, TypeError, ValueError):  # lone surrogates: as json.dumps writes them
            return "".join(
                json.dumps(msgspec.to_builtins(obj), separators=(",", ":"), ensure_ascii=False) + "\n" for obj in objs
            )

    def unread(
        self,
        *,
        record_id: str,
        activity: str,
        app_id: str | None,
        event_time: str | None,
        initiator: str,
        source: Source,
        target_id: str | None,
    ) -> UnreadLine:
        """The line of a record no rule reads (``export_lane.Render``): it names no tenant, so the
        configured one is shown, as :func:`record_line` does."""
        return UnreadLine(
            record_id=record_id,
            activity=activity,
            app_id=app_id,
            tenant_id=self._tenant_id,
            event_time=event_time,
            initiator=initiator,
            source=source,
            target_id=target_id,
        )

    def _line(self, record: AuditRecord) -> dict[str, Any]:
        verdict = classify(record, self._catalogue)
        return record_line(record, verdict, tenant_id=self._tenant_id, login_base=self._login_base)

    def _glanced(self, glanced: Glanced) -> object:
        """The line of a record a rule reads: its rendered line when the verdict names no app
        (:func:`record_line` then shows exactly the rendered fields), else :func:`record_line`."""
        record = glanced.record
        verdict = classify(record, self._catalogue)
        if verdict.app is None and verdict.target is None and type(glanced.line) is UnreadLine:
            return msgspec.structs.replace(glanced.line, kind=verdict.kind, action=verdict.action, rule=verdict.rule)
        return record_line(record, verdict, tenant_id=self._tenant_id, login_base=self._login_base)

    def _rendered(self, item: object) -> object:
        if isinstance(item, Glanced):
            return self._glanced(item)
        if isinstance(item, AuditRecord):
            return self._line(item)
        return item  # an UnreadLine

    def write(self, batch: Extraction) -> None:
        objs: list[Any]
        if isinstance(batch, Rendered):
            unread, rendered = UnreadLine, self._rendered
            objs = [item if type(item) is unread else rendered(item) for item in batch.lines]
        else:
            objs = [self._line(record) for record in batch.records]
        objs.extend(alert_line(window) for window in batch.alerts)
        if objs:
            self._print(self._lines(objs))
        room = max(0, MAX_NOTES - len(self.notes))
        self.notes.extend(batch.skipped[:room])
        self.more_notes += max(0, len(batch.skipped) - room)

    def _print(self, lines: bytes | str) -> None:
        """Write the lines; msgspec's UTF-8 straight to the stream's bytes when it would encode the
        text back to the same bytes (see :func:`_utf8_buffer`), saving a decode and an encode."""
        if isinstance(lines, str):
            self._out.write(lines)
        elif self._bytes_out is None:
            self._out.write(lines.decode("utf-8"))
        else:
            self._out.flush()  # nothing is pending (only these lines go to out), but keep the order
            _write_all(self._bytes_out, lines)


def _write_all(stream: BinaryIO, data: bytes) -> None:
    """``stream.write(data)`` to the end: an unbuffered stdout (``python -u``, ``PYTHONUNBUFFERED``)
    is the raw file, whose ``write`` may take only part of the bytes (a signal during a write to a
    pipe); a non-blocking one that takes none raises, as a full buffered write would."""
    view = memoryview(data)
    while view:
        written = stream.write(view)
        if written is None:
            raise BlockingIOError(errno.EAGAIN, "stdout would block")
        view = view[written:]


def _utf8_buffer(out: TextIO) -> BinaryIO | None:
    """The binary stream under ``out`` when writing text to ``out`` writes its UTF-8 bytes
    unchanged: the process's stdout (Python makes it translate ``\n`` to ``os.linesep``; a wrapper
    made elsewhere may translate it otherwise, and does not say so) encoding UTF-8 where
    ``os.linesep`` is ``\n``; else ``None``."""
    if out is not sys.stdout or not isinstance(out, io.TextIOWrapper) or os.linesep != "\n":
        return None
    try:
        utf8 = codecs.lookup(out.encoding).name == "utf-8"
    except LookupError:
        return None
    return out.buffer if utf8 else None
