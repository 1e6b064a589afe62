"""CSV audit-log exports, read row by row: the Entra admin center's download and Log Analytics'.

Neither layout is in an API reference; the readers follow real files' headers (docs/classify.md
lists the public examples they are based on, tests/fixtures/exports/SOURCES the fixtures):

* **Entra admin center** (Audit logs → Download → CSV): one row per record, flattened —
  ``Date (UTC)``, ``CorrelationId``, ``Service``, ``Category``, ``Activity``, ``Result``,
  ``ResultReason``, ``ActorType``, ``ActorDisplayName``, ``ActorObjectId``,
  ``ActorUserPrincipalName``, ``IPAddress``, ``ActorServicePrincipalId``/``…Name``, then per target
  ``Target{n}Type``/``DisplayName``/``ObjectId``/``UserPrincipalName`` and
  ``Target{n}ModifiedProperty{k}Name``/``OldValue``/``NewValue``, and
  ``AdditionalDetail{k}Key``/``Value``. There is no record id column: the id is derived from
  correlation id, time and activity (:func:`shared.detect.normalize.audit.derived_id`), as for any record
  without one. Each row becomes a ``directoryAudit`` object and is read by the same
  :func:`~shared.detect.normalize.audit.record_from` as a Graph record.
* **Log Analytics** (portal Export → CSV): the ``AuditLogs`` columns; the portal renames datetime
  columns ``TimeGenerated [UTC]`` and writes their values ``5/25/2023, 4:32:49.469 AM``; dynamic
  columns (``InitiatedBy``, ``TargetResources``, ``AdditionalDetails``) are JSON text. Each row is
  read like an ``AuditLogs`` row object.

Rows are read by :mod:`csv` (quoted fields may span lines). A line longer than :data:`LINE_CAP`, a
field longer than :data:`FIELD_CAP`, one record spread over more than :data:`RECORD_LINES` lines,
invalid UTF-8 or a malformed quote raise :class:`~shared.core.errors.PayloadError` naming the line.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from shared.core.errors import PayloadError
from shared.core.models import Extraction, Source
from shared.detect.normalize._batches import in_batches
from shared.detect.normalize._util import Context, short
from shared.detect.normalize.audit import PASCAL, record_from

LINE_CAP = 1024 * 1024
FIELD_CAP = 1024 * 1024
RECORD_LINES = 1000
MAX_COLUMNS = 2000

_PORTAL_TIME = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4}),? (\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))? ?([AaPp][Mm])$")
_TARGET = re.compile(r"^target(\d+)(type|displayname|objectid|userprincipalname)$")
_PROPERTY = re.compile(r"^target(\d+)modifiedproperty(\d+)(name|oldvalue|newvalue)$")
_DETAIL = re.compile(r"^additionaldetail(\d+)(key|value)$")
_LA_MARKERS = frozenset({"activitydisplayname", "operationname"})
_ENTRA_MARKERS = frozenset({"activity", "correlationid"})


def portal_time(value: str) -> str:
    """``5/25/2023, 4:32:49.469 AM`` (the Azure portal's export) → ISO 8601 UTC; other text as is."""
    m = _PORTAL_TIME.match(value.strip())
    if not m:
        return value
    month, day, year, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
    hour = hour % 12 + (12 if m.group(8).upper() == "PM" else 0)
    fraction = m.group(7) or "0"
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}.{fraction}Z"


def portal_row(obj: dict[str, Any]) -> dict[str, Any]:
    """A row the Azure portal exported (CSV or JSON): ``X [UTC]`` keys renamed ``X``, their values
    made ISO 8601; other keys and values as they are."""
    row: dict[str, Any] = {}
    for key, value in obj.items():
        if key.endswith("[UTC]"):
            row.setdefault(key[: -len("[UTC]")].strip(), portal_time(value) if isinstance(value, str) else value)
        else:
            row.setdefault(key, value)
    return row


class _Lines:
    """The file's physical lines for :mod:`csv`, each decoded on its own (so a UTF-8 error names its
    line), capped in length and counted per record."""

    __slots__ = ("_raw", "number", "pending")

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.number = 0
        self.pending = 0  # lines handed to the reader since it last produced a row

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        data = self._raw.readline(LINE_CAP + 1)
        if not data:
            raise StopIteration
        self.number += 1
        self.pending += 1
        if len(data) > LINE_CAP:
            raise PayloadError(f"line {self.number} is longer than {LINE_CAP >> 20} MiB")
        if self.pending > RECORD_LINES:
            raise PayloadError(f"a record starting before line {self.number} spans over {RECORD_LINES} lines")
        try:
            return data.decode("utf-8-sig" if self.number == 1 else "utf-8")
        except UnicodeDecodeError:
            raise PayloadError(f"invalid UTF-8 on line {self.number}") from None


def read_csv(stream: BinaryIO) -> Iterator[Extraction]:
    """Every record of a CSV export in batches; raises :class:`PayloadError` naming the line."""
    if stream.read(2) in (b"\xff\xfe", b"\xfe\xff"):
        raise PayloadError("invalid UTF-8: the file is UTF-16 (save it as UTF-8)")
    stream.seek(0)
    lines = _Lines(stream)
    reader = csv.reader(lines, strict=True)
    previous = csv.field_size_limit(FIELD_CAP)
    try:
        header = _next_row(reader, lines)
        if header is None:
            raise PayloadError("invalid CSV: no header row")
        to_record = _layout(header)
        yield from _records(reader, lines, to_record)
    finally:
        csv.field_size_limit(previous)


def _next_row(reader: Any, lines: _Lines) -> list[str] | None:
    try:
        row: list[str] = next(reader)
    except StopIteration:
        return None
    except csv.Error as exc:
        raise PayloadError(f"invalid CSV on line {lines.number}: {exc}") from None
    lines.pending = 0
    return row


_RowReader = Callable[[list[str], Context, str], Any]


def _records(reader: Any, lines: _Lines, to_record: _RowReader) -> Iterator[Extraction]:
    def take(row: list[str], out: Extraction, ctx: Context, _index: int) -> None:
        record = to_record(row, ctx, f"line {lines.number}")
        if record is not None:
            out.records.append(record)

    rows = (row for row in iter(lambda: _next_row(reader, lines), None) if any(row))
    return in_batches(rows, take)


def _layout(header: list[str]) -> _RowReader:
    """The row reader for this header: the Entra admin center's or Log Analytics'."""
    if len(header) > MAX_COLUMNS:
        raise PayloadError(f"unsupported CSV: {len(header)} columns")
    names = [h.strip() for h in header]
    lowered = {n.lower() for n in names}
    if _LA_MARKERS & lowered:
        return _la_reader(names)
    if lowered >= _ENTRA_MARKERS:
        return _entra_reader(names)
    shown = ", ".join(short(n[:30]) for n in names[:5]) or "(none)"
    raise PayloadError(f"unsupported payload: a CSV whose header ({shown}) has no audit-log columns")


def _la_reader(names: list[str]) -> _RowReader:
    """Log Analytics rows: ``X [UTC]`` columns renamed ``X`` with ISO values; the rest as written."""
    width = len(names)

    def read(row: list[str], ctx: Context, where: str) -> Any:
        if len(row) != width:
            ctx.skip(where, f"{len(row)} fields for {width} columns")
            return None
        obj = portal_row({k: (v if v != "" else None) for k, v in zip(names, row, strict=True)})
        return record_from(obj, Source.LOG_ANALYTICS, ctx, where, spelling=PASCAL)

    return read


class _EntraColumns:
    """Where each part of a ``directoryAudit`` sits in an Entra admin center CSV row."""

    def __init__(self, names: list[str]) -> None:
        self.plain: dict[str, int] = {}
        self.targets: dict[int, dict[str, int]] = {}
        self.properties: dict[tuple[int, int], dict[str, int]] = {}
        self.details: dict[int, dict[str, int]] = {}
        for i, name in enumerate(names):
            key = name.lower().replace(" ", "")
            if m := _TARGET.match(key):
                self.targets.setdefault(int(m.group(1)), {})[m.group(2)] = i
            elif m := _PROPERTY.match(key):
                self.properties.setdefault((int(m.group(1)), int(m.group(2))), {})[m.group(3)] = i
            elif m := _DETAIL.match(key):
                self.details.setdefault(int(m.group(1)), {})[m.group(2)] = i
            else:
                self.plain.setdefault(key, i)
        self.width = len(names)


def _entra_reader(names: list[str]) -> _RowReader:
    cols = _EntraColumns(names)

    def read(row: list[str], ctx: Context, where: str) -> Any:
        if len(row) != cols.width:
            ctx.skip(where, f"{len(row)} fields for {cols.width} columns")
            return None
        return record_from(entra_record(row, cols), Source.GRAPH, ctx, where)

    return read


def _cell(row: list[str], index: int | None) -> str | None:
    if index is None:
        return None
    value = row[index].strip()
    return value or None


def entra_record(row: list[str], cols: _EntraColumns) -> dict[str, Any]:
    """One Entra admin center CSV row as the ``directoryAudit`` object it was flattened from."""
    p = cols.plain

    def plain(*names: str) -> str | None:
        for name in names:
            value = _cell(row, p.get(name))
            if value is not None:
                return value
        return None

    when = plain("date(utc)", "date", "activitydatetime")
    record: dict[str, Any] = {
        "id": plain("id"),
        "category": plain("category"),
        "correlationId": plain("correlationid"),
        "result": plain("result"),
        "resultReason": plain("resultreason"),
        "activityDisplayName": plain("activity"),
        "activityDateTime": portal_time(when) if when else None,
        "loggedByService": plain("service"),
        "initiatedBy": _actor(plain),
        "targetResources": _targets(row, cols),
        "additionalDetails": [
            {"key": key, "value": _cell(row, spots.get("value")) or ""}
            for _, spots in sorted(cols.details.items())
            if (key := _cell(row, spots.get("key"))) is not None
        ],
    }
    return record


def _actor(plain: Callable[..., str | None]) -> dict[str, Any]:
    kind = (plain("actortype") or "").lower()
    upn, object_id = plain("actoruserprincipalname"), plain("actorobjectid")
    if kind == "user" or (kind not in ("app", "application", "serviceprincipal") and (upn or object_id)):
        return {
            "user": {
                "id": object_id,
                "displayName": plain("actordisplayname"),
                "userPrincipalName": upn,
                "ipAddress": plain("ipaddress"),
            }
        }
    return {
        "app": {
            "displayName": plain("actordisplayname", "actorserviceprincipalname"),
            "servicePrincipalId": plain("actorserviceprincipalid", "actorobjectid"),
            "servicePrincipalName": plain("actorserviceprincipalname"),
        }
    }


def _targets(row: list[str], cols: _EntraColumns) -> list[dict[str, Any]]:
    targets: list[dict[str, Any]] = []
    for n, spots in sorted(cols.targets.items()):
        target: dict[str, Any] = {
            "id": _cell(row, spots.get("objectid")),
            "displayName": _cell(row, spots.get("displayname")),
            "type": _cell(row, spots.get("type")),
            "userPrincipalName": _cell(row, spots.get("userprincipalname")),
        }
        if not any(target.values()):
            continue
        properties = []
        for (t, _), prop in sorted(cols.properties.items()):
            name = _cell(row, prop.get("name")) if t == n else None
            if name is not None:
                old, new = _cell(row, prop.get("oldvalue")), _cell(row, prop.get("newvalue"))
                properties.append({"displayName": name, "oldValue": old, "newValue": new})
        target["modifiedProperties"] = properties
        targets.append(target)
    return targets
