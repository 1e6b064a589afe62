"""shared/detect/normalize/exports.py, fast: which reader each export's first bytes pick, what each
reader makes of small in-memory files (records, notes, errors with their byte offset or line), and
the caps at their limits. ``read_export`` on ``io.BytesIO`` streams every page (the typed lane takes
only regular files: tests/test_export_lane.py). Expected values are literals."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from shared.core.errors import PayloadError
from shared.core.models import Extraction, Source
from shared.detect.normalize import exports
from shared.detect.normalize.exports import read_export
from tests.unit.detect.normalize.merged import merged


def record(n: int, activity: str = "Update user", **more: Any) -> dict[str, Any]:
    return {"id": f"r{n}", "activityDisplayName": activity, **more}


def read(data: bytes | str) -> Extraction:
    """Every batch of ``data`` merged into one extraction."""
    raw = data.encode() if isinstance(data, str) else data
    return merged(read_export(io.BytesIO(raw)))


def ids(data: bytes | str) -> list[str]:
    return [r.record_id for r in read(data).records]


def refusal(data: bytes | str) -> str:
    with pytest.raises(PayloadError) as caught:
        read(data)
    return str(caught.value)


class _Pipe(io.RawIOBase):
    """stdin from a pipe: readable, not seekable."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read(self, size: int = -1) -> bytes:
        return self._data.read(size)


class _Closed(_Pipe):
    def seekable(self) -> bool:
        raise ValueError("I/O operation on closed file")


# --- which reader ---------------------------------------------------------------------------------


def test_an_empty_or_blank_file_is_refused() -> None:
    expected = "invalid JSON: the file is empty (or starts with over 1 MiB of whitespace)"
    assert refusal(b"") == expected
    assert refusal(b" \t\r\n") == expected
    assert refusal(b"\xef\xbb\xbf  \n") == expected


def test_a_graph_page_after_a_byte_order_mark_and_whitespace() -> None:
    page = {"@odata.context": "x", "value": [record(1), record(2)]}
    assert ids(b"\xef\xbb\xbf \r\n\t" + json.dumps(page).encode()) == ["r1", "r2"]
    assert [r.source for r in read(json.dumps(page)).records] == [Source.GRAPH, Source.GRAPH]


def test_text_that_is_not_json_is_read_as_csv() -> None:
    assert refusal("a,b\n1,2\n") == "unsupported payload: a CSV whose header ('a', 'b') has no audit-log columns"
    csv = "Date (UTC),CorrelationId,Activity\n2024-05-01T10:00:00Z,c1,Update user\n"
    (found,) = read(csv).records
    assert (found.activity, found.correlation_id) == ("Update user", "c1")


def test_a_pipe_is_spooled_and_read() -> None:
    page = json.dumps({"value": [record(1), record(2)]}).encode()
    found = Extraction()
    for part in read_export(_Pipe(page)):  # type: ignore[arg-type]
        found.records.extend(part.records)
    assert [r.record_id for r in found.records] == ["r1", "r2"]
    found = Extraction()
    for part in read_export(_Closed(page)):  # type: ignore[arg-type]
        found.records.extend(part.records)
    assert [r.record_id for r in found.records] == ["r1", "r2"]


def test_a_pipe_longer_than_one_read_is_spooled_whole() -> None:
    records = [record(n, note="x" * 1000) for n in range(200)]  # about 220 KB: four reads of 64 KiB
    page = json.dumps({"value": records}).encode()
    found = Extraction()
    for part in read_export(_Pipe(page)):  # type: ignore[arg-type]
        found.records.extend(part.records)
    assert len(found.records) == 200
    assert found.records[-1].record_id == "r199"


# --- JSON Lines -------------------------------------------------------------------------------------


def test_json_lines_each_line_any_payload() -> None:
    lines = [json.dumps(record(1)), "", "  ", json.dumps({"value": [record(2), record(3)]}), json.dumps([record(4)])]
    assert ids("\n".join(lines) + "\n") == ["r1", "r2", "r3", "r4"]


def test_json_lines_after_a_byte_order_mark() -> None:
    assert ids(b"\xef\xbb\xbf" + f"{json.dumps(record(1))}\n{json.dumps(record(2))}".encode()) == ["r1", "r2"]


def test_json_lines_notes_and_errors_name_their_line() -> None:
    data = f'{json.dumps(record(1))}\n{{"activityDisplayName": "Update user"}}\n'
    assert read(data).skipped == ["line 2: record 'Update user' has no id and no correlationId+time to derive one"]
    assert refusal(f"{json.dumps(record(1))}\n\n{{broken\n").startswith("line 3: invalid JSON")


def test_one_line_followed_by_blank_lines_is_plain_json() -> None:
    assert ids(json.dumps(record(1)) + "\n \n\t\n") == ["r1"]
    assert ids(json.dumps([record(1)]) + "\n") == ["r1"]


def test_a_first_line_that_is_not_a_whole_value_means_json() -> None:
    page = '{"value": [\n' + json.dumps(record(1)) + "\n]}"
    assert ids(page) == ["r1"]


def test_a_first_line_nested_too_deep_for_json_loads_means_json() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    assert refusal(deep + "\n" + deep + "\n") == "invalid JSON: nested deeper than 64 levels (in bytes 0-400002)"


def test_a_json_line_longer_than_the_cap() -> None:
    cap = exports.ITEM_CAP
    first = json.dumps(record(1)) + "\n"
    bare = json.dumps(record(2, note=""))
    line = json.dumps(record(2, note="x" * (cap - len(bare) - 1))) + "\n"  # exactly the cap with its newline
    assert len(line) == cap
    assert ids(first + line) == ["r1", "r2"]
    assert refusal(first + line[:-1] + " \n") == "line 2: payload too large: 16777217 bytes, limit 16777216"
    assert refusal(first + line[:-1] + "  \n") == "line 2 is longer than 16 MiB"


# --- JSON, streamed -----------------------------------------------------------------------------------


def test_a_graph_page_value_in_any_casing_and_its_odd_items() -> None:
    page = {"Value": [record(1), 7, [], record(2, activity=" ")]}
    found = read(json.dumps(page))
    assert [r.record_id for r in found.records] == ["r1"]
    assert found.skipped == [
        "value 1: a number, not a directoryAudit object",
        "value 2: a list, not a directoryAudit object",
        "value 3: record has no activity name",
    ]


def test_a_page_whose_items_are_all_unsupported_is_refused() -> None:
    assert (
        refusal('{"value": [1, "x"]}')
        == "unsupported payload: none of the 2 items of the value array is a supported shape"
    )
    assert (
        refusal('{"records": [1]}')
        == "unsupported payload: none of the 1 items of the records array is a supported shape"
    )
    assert refusal("[1, 2, 3]") == "unsupported payload: none of the 3 items of the item array is a supported shape"


def test_an_empty_records_array_reads_as_nothing() -> None:
    assert read('{"value": []}').records == []
    assert read("[]").records == []


def test_a_diagnostic_records_array() -> None:
    diagnostic = {
        "time": "2024-05-01T10:00:00Z",
        "operationName": "Update user",
        "category": "AuditLogs",
        "tenantId": "0b9a2f0c-7a7e-4c5a-9c7e-2f0f4f1f6a11",
        "properties": record(1),
    }
    found = read(json.dumps({"records": [diagnostic, "x"]}))
    assert [(r.record_id, r.source) for r in found.records] == [("r1", Source.DIAGNOSTIC)]
    assert found.skipped == ["records 1: a string, not a record object"]


def test_a_top_level_array_of_records_rows_and_portal_rows() -> None:
    portal = {"TimeGenerated [UTC]": "5/25/2023, 4:32:49.469 AM", "Id": "r3", "ActivityDisplayName": "Update user"}
    found = read(json.dumps([record(1), {"nothing": 1}, 5, portal]))
    assert [r.record_id for r in found.records] == ["r1", "r3"]
    assert found.skipped == ["item 1: unsupported object", "item 2: a number"]
    assert found.records[1].ingested_time is not None
    assert found.records[1].ingested_time.isoformat() == "2023-05-25T04:32:49.469000+00:00"


def test_a_records_array_under_another_key_is_not_streamed() -> None:
    assert refusal('{"items": [1]}').startswith("unsupported payload")
    assert ids(json.dumps({"meta": {"value": [1]}, **record(9)})) == ["r9"]


def test_one_record_object_is_read_whole() -> None:
    found = read(json.dumps(record(1, targetResources=[{"id": "t"}])))
    assert [(r.record_id, r.targets[0].id) for r in found.records] == [("r1", "t")]


def test_an_object_over_the_whole_cap_with_no_records_array() -> None:
    head = '{"note": "' + "x" * (exports.SNIFF + 10) + '", '
    body = head + '"id": "r1", "activityDisplayName": "Update user"}'
    assert ids(body) == ["r1"]
    big = '{"note": "' + "x" * exports.WHOLE_CAP + '"}'
    assert refusal(big) == (
        "unsupported payload: a JSON object over 10 MiB with no records array"
        " (value, records or tables) in its first MiB"
    )


def test_an_object_of_exactly_the_whole_cap_is_read() -> None:
    tail = '", "id": "r1", "activityDisplayName": "Update user"}'
    body = '{"note": "' + "x" * (exports.WHOLE_CAP - len(tail) - 10) + tail
    assert len(body) == exports.WHOLE_CAP
    assert ids(body) == ["r1"]
    assert refusal(body + " ").startswith("unsupported payload: a JSON object over 10 MiB")


def test_a_truncated_page_names_its_byte() -> None:
    page = json.dumps({"value": [record(1), record(2)]})
    cut = page[:-20]
    assert refusal(cut) == f"truncated JSON: the file ends inside a value (byte {len(cut)})"


def test_invalid_json_and_invalid_utf8_name_their_byte() -> None:
    assert (
        refusal('{"value": [{"id": "r1",, }]}')
        == "invalid JSON: parse error: invalid object key (must be a string) (before byte 28)"
    )
    assert refusal(b'{"value": [{"id": "r\xff"}]}') == "invalid UTF-8 in a JSON string (before byte 25)"


def test_an_item_over_the_cap_is_refused_with_where_it_started() -> None:
    page = (
        '{"value": ['
        + json.dumps(record(1))
        + ", "
        + json.dumps(record(2, note="x" * (exports.ITEM_CAP + 2 * exports.READ_SIZE)))
        + "]}"
    )
    message = refusal(page)
    assert message.startswith("an item starting near byte ")
    assert message.endswith(" is larger than 16 MiB")


def test_an_item_just_under_the_cap_is_read() -> None:
    note = "x" * (exports.ITEM_CAP - 100)
    page = '{"value": [' + json.dumps(record(1, note=note)) + "]}"
    assert ids(page) == ["r1"]


# --- the query API's tables ----------------------------------------------------------------------


def table(columns: list[Any], rows: list[Any], tables: int = 1) -> str:
    one = {"name": "PrimaryResult", "columns": columns, "rows": rows}
    return json.dumps({"tables": [one] * tables})


COLUMNS = [{"name": "Id", "type": "string"}, {"name": "ActivityDisplayName", "type": "string"}]


def test_a_query_table_streams_its_rows() -> None:
    found = read(table(COLUMNS, [["r1", "Update user"], ["r2"], "x", ["r3", "Update user"]]))
    assert [(r.record_id, r.source) for r in found.records] == [
        ("r1", Source.LOG_ANALYTICS),
        ("r3", Source.LOG_ANALYTICS),
    ]
    assert found.skipped == [
        "table 0 row 1: row does not match the columns",
        "table 0 row 2: row does not match the columns",
    ]


def test_column_names_given_as_plain_text() -> None:
    assert ids(table(["Id", "OperationName"], [["r1", "Update user"]])) == ["r1"]


def test_a_table_without_an_activity_column_or_with_unreadable_names() -> None:
    assert refusal(table([{"name": "Id"}], [["r1"]])) == (
        "unsupported payload: the table holds no AuditLogs rows (no activity column)"
    )
    assert refusal(table([{"name": "Id"}, {"type": "string"}], [["r1", "x"]])) == (
        "unsupported payload: the table's column names are unreadable"
    )


def test_two_tables_or_columns_that_are_no_list_are_read_whole() -> None:
    assert ids(table(COLUMNS, [["r1", "Update user"]], tables=2)) == ["r1", "r1"]
    assert read(json.dumps({"tables": [{"columns": {"a": 1}, "rows": []}]})).records == []


# --- what the first sample of mutants left -----------------------------------------------------------


PAYLOADS = Path(__file__).resolve().parents[3] / "fixtures" / "payloads"


def test_json_lines_keep_the_alerts_of_a_line() -> None:
    alert = json.dumps(json.loads((PAYLOADS / "alert_log_v2_no_rows.json").read_text(encoding="utf-8")))
    found = read(json.dumps(record(1)) + "\n" + alert + "\n")
    assert (len(found.records), len(found.alerts)) == (1, 1)


def test_one_line_without_a_newline_is_plain_json_even_when_it_starts_with_a_value() -> None:
    assert refusal('[{"id": "r1"}]x') == "invalid JSON: parse error: trailing garbage (before byte 15)"


def test_numbers_in_a_streamed_record_read_as_numbers() -> None:
    page = {"value": [record(1, "Delete service principal", additionalDetails=[{"key": "n", "value": 1.5}])]}
    (found,) = read(json.dumps(page)).records
    assert found.additional_details == (("n", "1.5"),)


def test_each_array_item_has_its_own_record_budget() -> None:
    assert ids(json.dumps([{"value": [record(1), record(2)]}, record(3)])) == ["r1", "r2", "r3"]
    page = {"value": [record(n) for n in range(10_001)]}
    assert refusal(json.dumps([page])) == "payload holds more than 10000 records"


def test_the_sniff_reads_the_first_mib() -> None:
    body = json.dumps(record(1)).encode()
    assert ids(b" " * (1023 * 1024) + body) == ["r1"]
    assert refusal(b" " * (1024 * 1024) + body) == (
        "invalid JSON: the file is empty (or starts with over 1 MiB of whitespace)"
    )


def test_a_page_on_disk_the_lane_leaves_part_way_is_read_on_by_the_stream(tmp_path: Path) -> None:
    path = tmp_path / "page.json"
    path.write_text(json.dumps({"value": [record(1), record(2), record(3, extra=1), record(4)]}), encoding="utf-8")
    with path.open("rb") as stream:
        found = [r.record_id for part in read_export(stream) for r in part.records]
    assert found == ["r1", "r2", "r3", "r4"]
