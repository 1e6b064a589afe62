"""Audit-log export files of any size, read in bounded memory: what ``classify FILE`` reads.

An admin looking into a month of deletions exports the audit log — Graph pages, the Entra admin
center's JSON or CSV download, a Log Analytics export — often 100 MB to 1 GB. :func:`read_export`
yields the file's records in batches (:class:`~shared.core.models.Extraction` s of at most
:data:`BATCH` records) while it reads, so memory stays bounded whatever the size; only the pushed
endpoints (HTTP, queues) keep the whole-payload limits of :func:`shared.detect.normalize.extract_json`.

The format is decided from the first bytes (after a UTF-8 byte-order mark and whitespace), never
from the file name:

* ``{`` or ``[`` whose first line is a whole JSON value followed by more → **JSON Lines**: each line
  is any payload :func:`~shared.detect.normalize.extract_json` reads (a record, a row, a page, an event);
* ``{`` or ``[`` otherwise → **JSON**, streamed by ijson (yajl2_c): a Graph page's ``value`` items,
  a diagnostic-settings ``records`` array, the query API's ``tables`` rows, or the items of a
  top-level array (the Entra admin center's JSON download, ``az monitor log-analytics query`` output,
  a Log Analytics portal JSON export, a list of records or events) — each item read on its own;
  an object holding none of these arrays is one payload, read whole (up to 10 MiB);
* anything else → **CSV** (shared/detect/normalize/export_csv.py): the Entra admin center's download or a
  Log Analytics portal export, told apart by their header.

A file that breaks off or goes bad part-way raises :class:`~shared.core.errors.PayloadError` naming the
byte offset (JSON) or line (JSON Lines, CSV) *after* every batch before the break was yielded, so
the caller has printed what was read. No single record, line or array item may exceed
:data:`ITEM_CAP`, and nesting is capped at :data:`shared.detect.payload.MAX_DEPTH` before the parser sees
a byte (``_nesting.py``). A key repeated inside a streamed record keeps its last value, as Graph's
SDKs read it: the refusal of repeated keys guards pushed payloads, and still applies to lines and
whole-read payloads here.
"""

from __future__ import annotations

import io
import json
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, BinaryIO

from shared.core.errors import PayloadError
from shared.core.models import Extraction, Source
from shared.detect.normalize import diagnostic_record_into, extract_json, json_type, object_into
from shared.detect.normalize._batches import BATCH, in_batches
from shared.detect.normalize._nesting import NestingGuard
from shared.detect.normalize._util import Context
from shared.detect.normalize.audit import record_from
from shared.detect.normalize.export_csv import portal_row, read_csv
from shared.detect.normalize.rows import row_into
from shared.detect.payload import without_bom

if TYPE_CHECKING:
    from shared.detect.normalize.export_lane import Render

ITEM_CAP = 16 * 1024 * 1024
"""Largest single record, array item or JSON line (real records are a few KB)."""

WHOLE_CAP = 10 * 1024 * 1024
"""Largest JSON payload read whole (an object holding no records array: one record, event, alert)."""

SNIFF = 1024 * 1024
READ_SIZE = 64 * 1024  # ijson parses a 64 KiB buffer fastest here (it stays in the CPU cache)
_WHITESPACE = b" \t\r\n"
_STREAMED = ("value", "records")


def read_export(stream: BinaryIO, *, render: Render | None = None) -> Iterator[Extraction]:
    """Every record of the export in ``stream``, in batches; raises :class:`PayloadError`.

    With ``render``, a Graph page the mapped lane reads yields
    :class:`~shared.detect.normalize.export_lane.Rendered` batches instead (each record no rule
    reads already rendered: see ``export_lane.Render``); every other batch is an :class:`Extraction`."""
    if not _seekable(stream):
        stream = _spooled(stream)
    head = stream.read(SNIFF)
    stream.seek(0)
    text = without_bom(head).lstrip(_WHITESPACE)
    if not text:
        raise PayloadError("invalid JSON: the file is empty (or starts with over 1 MiB of whitespace)")
    if text[:1] not in b"[{":
        yield from read_csv(stream)
    elif _is_json_lines(text):
        yield from _json_lines(stream)
    else:
        yield from _json(stream, head, render)


def _seekable(stream: BinaryIO) -> bool:
    try:
        return stream.seekable()
    except (AttributeError, ValueError):
        return False


def _spooled(stream: BinaryIO) -> BinaryIO:
    """A seekable copy of a pipe (stdin): up to 8 MiB in memory, the rest in a temporary file."""
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 - the caller reads it
    while chunk := stream.read(READ_SIZE):
        spool.write(chunk)
    spool.seek(0)
    return spool  # type: ignore[return-value]


def _is_json_lines(text: bytes) -> bool:
    """Whether the first line is a whole JSON value and another line follows it."""
    end = text.find(b"\n")
    if end < 0 or not text[end:].strip(_WHITESPACE):
        return False
    try:
        json.loads(text[:end])
    except (ValueError, RecursionError):
        return False
    return True


# --- JSON Lines -------------------------------------------------------------------------------


def _json_lines(stream: BinaryIO) -> Iterator[Extraction]:
    """Each non-blank line is one payload of any supported shape, read by ``extract_json``."""

    def lines() -> Iterator[tuple[int, bytes]]:
        number = 0
        while line := stream.readline(ITEM_CAP + 1):
            number += 1
            if len(line) > ITEM_CAP and not line.endswith(b"\n"):
                raise PayloadError(f"line {number} is longer than {ITEM_CAP >> 20} MiB")
            if number == 1:
                line = without_bom(line)
            if line.strip(_WHITESPACE):
                yield number, line

    def take(numbered: tuple[int, bytes], out: Extraction, _ctx: Context, _index: int) -> None:
        number, line = numbered
        try:
            part = extract_json(line, limit=ITEM_CAP)
        except PayloadError as exc:
            raise PayloadError(f"line {number}: {exc}") from None
        out.records.extend(part.records)
        out.alerts.extend(part.alerts)
        out.skipped.extend(f"line {number}: {note}" for note in part.skipped)

    return in_batches(lines(), take)


# --- JSON, streamed -------------------------------------------------------------------------


class _Counted:
    """The file as the parser reads it: counts bytes, guards nesting, caps one item's size."""

    __slots__ = ("_cap", "_guard", "_raw", "mark", "pos")

    def __init__(self, raw: BinaryIO, *, capped: bool = True) -> None:
        self._raw = raw
        self._guard = NestingGuard()
        self._cap = ITEM_CAP if capped else None
        self.pos = 0
        self.mark = 0  # where the item being read began (roughly: the last item ended there)

    def read(self, size: int = READ_SIZE) -> bytes:
        data = self._raw.read(size)
        self._guard.feed(data, self.pos)
        self.pos += len(data)
        if self._cap is not None and self.pos - self.mark > self._cap + READ_SIZE:
            raise PayloadError(f"an item starting near byte {self.mark} is larger than {ITEM_CAP >> 20} MiB")
        return data


def _layout(head: bytes) -> tuple[str, str]:
    """``(kind, ijson prefix)`` of the array holding the records, found in the first bytes:
    ``("item", "item")`` for a top-level array, ``("value"|"records", "<key>.item")`` for a page
    or a diagnostic stream, ``("tables", "<key>")``, or ``("whole", "")`` when none shows."""
    import ijson

    NestingGuard().feed(head, 0)  # the parser's cost is quadratic in depth: check before it runs
    try:
        for prefix, event, _value in ijson.parse(io.BytesIO(head)):
            if event != "start_array":
                continue
            if prefix == "":
                return "item", "item"
            if "." not in prefix and prefix.lower() in _STREAMED:
                return prefix.lower(), f"{prefix}.item"
            if "." not in prefix and prefix.lower() == "tables":
                return "tables", prefix
    except ijson.JSONError:  # the head ends mid-document, or is not JSON: the whole read reports it
        pass
    return "whole", ""


def _json(stream: BinaryIO, head: bytes, render: Render | None = None) -> Iterator[Extraction]:
    kind, prefix = _layout(head)
    if kind == "whole":
        yield _whole(stream)
    elif kind == "tables":
        yield from _tables(stream, prefix)
    elif kind == "value" and prefix == "value.item":
        yield from _graph_page(stream, head, prefix, render)
    else:
        yield from _items(stream, kind, prefix)


def _graph_page(stream: BinaryIO, head: bytes, prefix: str, render: Render | None) -> Iterator[Extraction]:
    """A Graph page: the mapped, typed lane (export_lane.py) while it can, then the stream."""
    from shared.detect.normalize.export_lane import graph_file

    # 4 reads of margin: the streaming cap counts from roughly where the last item ended
    lane = graph_file(stream, head, item_cap=ITEM_CAP - 4 * READ_SIZE, batch=BATCH, render=render)
    if lane is None:
        yield from _items(stream, "value", prefix)
        return
    yield from lane
    if not lane.complete:
        stream.seek(0)
        yield from _items(stream, "value", prefix, skip=lane.taken)


def _whole(stream: BinaryIO) -> Extraction:
    data = stream.read(WHOLE_CAP + 1)
    if len(data) > WHOLE_CAP:
        raise PayloadError(
            f"unsupported payload: a JSON object over {WHOLE_CAP >> 20} MiB with no records array "
            "(value, records or tables) in its first MiB"
        )
    return extract_json(data, limit=WHOLE_CAP)


def _parse_items(source: _Counted, prefix: str) -> Iterator[Any]:
    """ijson's items at ``prefix``, its errors turned into one-line :class:`PayloadError` s."""
    import ijson

    try:
        for item in ijson.items(source, prefix, use_float=True, buf_size=READ_SIZE):
            yield item
            source.mark = source.pos  # the next item starts about here
    except ijson.IncompleteJSONError as exc:
        raise PayloadError(_json_problem(exc, source.pos)) from None
    except ijson.JSONError as exc:
        raise PayloadError(_json_problem(exc, source.pos)) from None


def _json_problem(exc: Exception, pos: int) -> str:
    text = exc.args[0] if exc.args else ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    first = str(text).strip().splitlines()[0] if str(text).strip() else type(exc).__name__
    if "premature EOF" in first:
        return f"truncated JSON: the file ends inside a value (byte {pos})"
    if "UTF8" in first:
        return f"invalid UTF-8 in a JSON string (before byte {pos})"
    return f"invalid JSON: {first.rstrip('.')} (before byte {pos})"


_Handler = Callable[[Any, Extraction, Context, int], bool]


def _graph_item(item: Any, out: Extraction, ctx: Context, index: int) -> bool:
    if type(item) is not dict:
        ctx.skip(f"value {index}", f"a {json_type(item)}, not a directoryAudit object")
        return False
    record = record_from(item, Source.GRAPH, ctx, f"value {index}")
    if record is not None:
        out.records.append(record)
    return True


def _diagnostic_item(item: Any, out: Extraction, ctx: Context, index: int) -> bool:
    if type(item) is not dict:
        ctx.skip(f"records {index}", f"a {json_type(item)}, not a record object")
        return False
    diagnostic_record_into(item, out, ctx, f"records {index}")
    return True


def _array_item(item: Any, out: Extraction, ctx: Context, index: int) -> bool:
    """One item of a top-level array: any shape ``extract`` reads in an array, budgeted alone."""
    ctx.count = 0
    if type(item) is dict and any(type(k) is str and k.endswith("]") for k in item):
        item = portal_row(item)  # a Log Analytics portal JSON export: "TimeGenerated [UTC]"
    if type(item) is dict and object_into(item, out, ctx, f"item {index}: "):
        return True
    what = "unsupported object" if type(item) is dict else f"a {json_type(item)}"
    ctx.skip(f"item {index}", what)
    return False


_HANDLERS: dict[str, _Handler] = {"value": _graph_item, "records": _diagnostic_item, "item": _array_item}


def _items(stream: BinaryIO, kind: str, prefix: str, *, skip: int = 0) -> Iterator[Extraction]:
    """The items of the records array, read one at a time and handled by ``kind``'s reader; the
    first ``skip`` items are only parsed (the fast lane read them: supported, already printed)."""
    handle = _HANDLERS[kind]
    counts = {"items": 0, "known": 0}

    def take(item: Any, out: Extraction, ctx: Context, index: int) -> None:
        counts["items"] += 1
        counts["known"] += index < skip or handle(item, out, ctx, index)

    yield from in_batches(_parse_items(_Counted(stream), prefix), take)  # the notes say what each item was
    if counts["items"] and not counts["known"]:
        total = counts["items"]
        raise PayloadError(f"unsupported payload: none of the {total} items of the {kind} array is a supported shape")


def _tables(stream: BinaryIO, prefix: str) -> Iterator[Extraction]:
    """The query API's ``{"tables": [{"name", "columns", "rows"}]}``: one table's rows streamed.

    Two passes over the file: the column names first, then the rows, zipped with them. More than
    one table is read whole (the query API returns one, ``PrimaryResult``)."""
    columns = list(_parse_items(_Counted(stream, capped=False), f"{prefix}.item.columns"))
    stream.seek(0)
    if len(columns) != 1 or not isinstance(columns[0], list):
        yield _whole(stream)
        return
    names = [c.get("name") if isinstance(c, dict) else c for c in columns[0]]
    if not all(isinstance(n, str) for n in names):  # (a list comprehension: mypy cannot narrow it)
        raise PayloadError("unsupported payload: the table's column names are unreadable")
    if not {"activitydisplayname", "operationname"} & {str(n).lower() for n in names}:
        raise PayloadError("unsupported payload: the table holds no AuditLogs rows (no activity column)")
    yield from _rows(_parse_items(_Counted(stream), f"{prefix}.item.rows.item"), [str(n) for n in names])


def _rows(rows: Iterable[Any], names: list[str]) -> Iterator[Extraction]:
    def take(row: Any, out: Extraction, ctx: Context, index: int) -> None:
        label = f"table 0 row {index}"
        if not isinstance(row, list) or len(row) != len(names):
            ctx.skip(label, "row does not match the columns")
        else:
            row_into(dict(zip(names, row, strict=True)), out, ctx, label)

    return in_batches(rows, take)
