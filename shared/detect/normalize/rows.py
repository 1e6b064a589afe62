"""Log Analytics ``AuditLogs`` rows, as objects or as the query API's ``tables`` form.

The query API (and the legacy alert's embedded ``SearchResults``) returns
``{"tables": [{"name", "columns": [{"name", "type"}], "rows": [[…]]}]}``; rows are zipped with the
column names and read like row objects. Tables that are not AuditLogs rows (no activity column) are
reported once per table rather than once per row.
"""

from __future__ import annotations

from typing import Any

from shared.core.models import Extraction, Source
from shared.detect.normalize._util import MAX_RECORDS, Context, TooManyRecords, as_list, get, short, text
from shared.detect.normalize.audit import PASCAL, record_from

_ACTIVITY_COLUMNS = frozenset({"activitydisplayname", "operationname"})


def row_into(row: dict[Any, Any], out: Extraction, ctx: Context, where: str) -> None:
    """One AuditLogs row object (PascalCase columns, dynamic columns as objects or JSON text)."""
    record = record_from(row, Source.LOG_ANALYTICS, ctx, where, spelling=PASCAL)
    if record is not None:
        out.records.append(record)


def tables_into(obj: dict[str, Any], out: Extraction, ctx: Context, where: str) -> None:
    """The ``tables`` form (``obj`` lower-keyed): every AuditLogs row of every table."""
    tables = as_list(obj.get("tables"))
    if tables is None:
        ctx.skip(where, "tables is not a list")
        return
    for t_index, table in enumerate(tables[:100]):
        label = f"{where}table {t_index}"
        if not isinstance(table, dict):
            ctx.skip(label, "not an object")
            continue
        columns = get(table, "columns")
        rows = get(table, "rows")
        if not isinstance(columns, list) or not isinstance(rows, list):
            ctx.skip(label, "columns or rows missing")
            continue
        names: list[str] = []
        for column in columns[:1000]:
            name = text(get(column, "name")) if isinstance(column, dict) else text(column)
            if name is None:
                break
            names.append(name)
        if len(names) != len(columns):
            ctx.skip(label, "column names unreadable")
            continue
        if not _ACTIVITY_COLUMNS.intersection(n.lower() for n in names):
            ctx.skip(label, f"{short(text(get(table, 'name')) or '')} rows are not AuditLogs rows (no activity column)")
            continue
        if len(rows) > MAX_RECORDS:
            raise TooManyRecords
        for r_index, row in enumerate(rows):
            ctx.take()
            row_label = f"{label} row {r_index}"
            if not isinstance(row, list) or len(row) != len(names):
                ctx.skip(row_label, "row does not match the columns")
                continue
            row_into(dict(zip(names, row, strict=True)), out, ctx, row_label)
