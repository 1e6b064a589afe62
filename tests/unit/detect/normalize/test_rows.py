"""shared/detect/normalize/rows.py: Log Analytics ``tables`` — rows zipped with their columns, and
every table or row that cannot be read named in a skip note (literals)."""

from __future__ import annotations

from typing import Any

import pytest

from shared.core.models import Extraction
from shared.detect.normalize._util import Context, TooManyRecords
from shared.detect.normalize.rows import tables_into

COLUMNS = [{"name": "Id", "type": "string"}, {"name": "ActivityDisplayName", "type": "string"}]


def read(obj: dict[str, Any], where: str = "") -> tuple[list[tuple[str, str]], list[str], int]:
    out = Extraction()
    ctx = Context(skipped=out.skipped)
    tables_into(obj, out, ctx, where)
    return [(r.record_id, r.activity) for r in out.records], out.skipped, ctx.count


def test_rows_are_zipped_with_the_column_names() -> None:
    rows = [["r1", "Delete service principal"], ["r2"], "x", ["r3", "Add service principal"]]
    assert read({"tables": [{"name": "PrimaryResult", "columns": COLUMNS, "rows": rows}]}, "body ") == (
        [("r1", "Delete service principal"), ("r3", "Add service principal")],
        ["body table 0 row 1: row does not match the columns", "body table 0 row 2: row does not match the columns"],
        4,
    )


def test_plain_column_names_and_operation_name_as_the_activity_column() -> None:
    table = {"columns": ["Id", "OperationName"], "rows": [["r9", "Update service principal"]]}
    assert read({"tables": [table]}) == ([("r9", "Update service principal")], [], 1)


def test_tables_that_are_not_audit_rows_are_named_once() -> None:
    tables = [
        1,
        {"name": "T", "columns": COLUMNS},
        {"name": "Heartbeat", "columns": [{"name": "Computer"}], "rows": [["a"], ["b"]]},
        {"name": "T", "columns": [{"name": "Id"}, {"x": 1}], "rows": []},
    ]
    assert read({"tables": tables}) == (
        [],
        [
            "table 0: not an object",
            "table 1: columns or rows missing",
            "table 2: 'Heartbeat' rows are not AuditLogs rows (no activity column)",
            "table 3: column names unreadable",
        ],
        0,
    )


@pytest.mark.parametrize("tables", ["no", None, {"rows": []}])
def test_tables_must_be_a_list(tables: Any) -> None:
    assert read({"tables": tables}) == ([], ["tables is not a list"], 0)


def test_at_most_100_tables_are_read() -> None:
    heartbeat = {"name": "Heartbeat", "columns": ["Computer"], "rows": []}
    _, skipped, _ = read({"tables": [heartbeat] * 101})
    assert len(skipped) == 100
    assert skipped[-1] == "table 99: 'Heartbeat' rows are not AuditLogs rows (no activity column)"


def test_at_most_1000_columns_are_read() -> None:
    names = ["Id", "ActivityDisplayName", *(f"C{i}" for i in range(998))]
    row = ["r1", "Delete service principal", *([None] * 998)]
    assert read({"tables": [{"columns": names, "rows": [row]}]}) == ([("r1", "Delete service principal")], [], 1)
    assert read({"tables": [{"columns": [*names, "C998"], "rows": []}]}) == (
        [],
        ["table 0: column names unreadable"],
        0,
    )


def test_more_rows_than_the_record_budget_is_refused_before_reading() -> None:
    rows = [["r", "x"]] * 10_001
    with pytest.raises(TooManyRecords):
        read({"tables": [{"columns": ["Id", "ActivityDisplayName"], "rows": rows}]})
    _, skipped, count = read({"tables": [{"columns": ["Id", "ActivityDisplayName"], "rows": ["x"] * 10_000}]})
    assert (len(skipped), count) == (10_000, 10_000)
