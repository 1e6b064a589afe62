"""``classify FILE`` on audit-log exports: every format it reads (fixtures in tests/fixtures/exports,
sources in SOURCES.md), detection from content, files far over the old 10 MiB limit in bounded
memory, and malformed, truncated and hostile input per format (the records before a break are
printed, then exit 2 with one stderr line naming the byte offset or line)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from shared.cli.classify import run_classify
from shared.core.catalogue import INTEGRATION_APP_ID
from shared.detect.normalize import export_csv, exports

ROOT = Path(__file__).resolve().parent.parent
EXPORTS = Path(__file__).parent / "fixtures" / "exports"
PAYLOADS = Path(__file__).parent / "fixtures" / "payloads"
TENANT = "0c0ffee0-1234-4abc-8def-0123456789ab"
LOGIN = "https://login.microsoftonline.com"
IDS = (
    "Directory_a1b2c3d4-1111-4a2b-8c3d-000000000001_7ZH3P_16428397",
    "Directory_a1b2c3d4-1111-4a2b-8c3d-000000000002_BZ4XQ_16428398",
    "Directory_a1b2c3d4-1111-4a2b-8c3d-000000000003_Q2W8N_16428399",
)
KINDS = ("integration_deleted", "integration_hard_deleted", "unrelated")


def run(path: Path | str) -> tuple[int, list[dict[str, Any]], str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_classify(str(path), tenant_id=TENANT, login_base=LOGIN, identity_app_id=None, out=out, err=err)
    return code, [json.loads(line) for line in out.getvalue().splitlines()], err.getvalue()


def summary(lines: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(x["record_id"], x["kind"], x["action"], x["app_id"], x.get("consent_url")) for x in lines]


# --- every format -------------------------------------------------------------------------------


def test_graph_page_single_record_and_list_give_what_the_whole_payload_reader_gives() -> None:
    """The streamed reader's lines equal the old reader's (extract_json on the whole file)."""
    from shared.cli.classify import record_line
    from shared.core.catalogue import Catalogue
    from shared.detect.classify import classify
    from shared.detect.normalize import extract_json

    for name in ("graph_page_deletions.json", "graph_record_other_app.json", "graph_list_updates.json"):
        whole = extract_json((PAYLOADS / name).read_bytes(), limit=10 * 1024 * 1024)
        expected = [
            record_line(r, classify(r, Catalogue(None)), tenant_id=TENANT, login_base=LOGIN) for r in whole.records
        ]
        code, lines, err = run(PAYLOADS / name)
        assert (code, err) == (0, "") and lines == json.loads(json.dumps(expected)), name


@pytest.mark.parametrize("name", ["graph_records.jsonl", "entra_portal_audit.json", "loganalytics_az_cli_query.json"])
def test_json_lines_portal_json_and_az_cli_rows(name: str) -> None:
    code, lines, err = run(EXPORTS / name)
    assert (code, err) == (0, "")
    assert [x["record_id"] for x in lines] == list(IDS)
    assert [x["kind"] for x in lines] == list(KINDS)
    assert lines[0]["consent_url"] == f"{LOGIN}/{TENANT}/adminconsent?client_id={INTEGRATION_APP_ID}"
    assert lines[0]["app_id"] == INTEGRATION_APP_ID and lines[0]["target_id"] == "c2a5f6e1-8b7d-4c3e-9a1f-2d4b6e8f0a1c"
    assert lines[0]["event_time"] == "2024-05-01T10:11:12.123456Z"  # 7 digits and +00:00, kept to the microsecond


@pytest.mark.parametrize("name", ["loganalytics_portal_export.csv", "loganalytics_portal_export.json"])
def test_log_analytics_portal_exports(name: str) -> None:
    code, lines, err = run(EXPORTS / name)
    assert (code, err) == (0, "")
    assert [x["record_id"] for x in lines] == list(IDS) and [x["kind"] for x in lines] == list(KINDS)
    first = lines[0]
    assert first["source"] == "loganalytics" and first["tenant_id"] == "3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
    assert first["event_time"] == "2024-05-01T10:11:12.123000Z"  # "5/1/2024, 10:11:12.123 AM" [UTC]
    assert lines[2]["event_time"] == "2024-05-01T21:00:00.000000Z"  # 9:00:00.000 PM
    assert first["initiator"] == "admin@contoso.onmicrosoft.com"  # InitiatedBy as JSON text


def test_entra_admin_center_csv_download() -> None:
    code, lines, err = run(EXPORTS / "entra_portal_audit.csv")
    assert (code, err) == (0, "")
    deleted, disabled, other = lines
    assert deleted["kind"] == "integration_deleted" and deleted["app_id"] == INTEGRATION_APP_ID
    assert deleted["record_id"].startswith("derived_")  # the download has no id column
    assert deleted["event_time"] == "2024-05-01T10:11:12.123000Z"
    assert deleted["initiator"] == "admin@contoso.onmicrosoft.com"
    assert deleted["consent_url"] == f"{LOGIN}/{TENANT}/adminconsent?client_id={INTEGRATION_APP_ID}"
    assert (disabled["kind"], disabled["action"]) == ("integration_disabled", "notify_reenable")
    assert disabled["app_id"] == INTEGRATION_APP_ID  # from TargetId.ServicePrincipalNames
    assert other["kind"] == "unrelated" and other["initiator"] == "Microsoft Substrate Management"
    # The same download read twice gives the same derived ids (the incident dedupe relies on it).
    assert [x["record_id"] for x in run(EXPORTS / "entra_portal_audit.csv")[1]] == [x["record_id"] for x in lines]


def test_entra_csv_modified_property_values_plain_or_json_encoded(tmp_path: Path) -> None:
    text = (EXPORTS / "entra_portal_audit.csv").read_text()
    plain = tmp_path / "plain.csv"
    plain.write_text(text.replace('"[true]","[false]"', '"true","false"'))
    assert run(plain)[1][1]["kind"] == "integration_disabled"


def test_query_api_tables_form_streams_its_rows() -> None:
    from shared.detect.normalize import extract_json

    code, lines, _ = run(PAYLOADS / "loganalytics_query_tables.json")
    whole = extract_json((PAYLOADS / "loganalytics_query_tables.json").read_bytes(), limit=1 << 20)
    assert code == 0 and [x["record_id"] for x in lines] == [r.record_id for r in whole.records]
    assert [x["kind"] for x in lines] == ["integration_hard_deleted", "consent_revoked"]


@pytest.mark.parametrize(
    ("source", "renamed"),
    [("entra_portal_audit.csv", "audit.json"), ("graph_records.jsonl", "audit.csv"), ("entra_portal_audit.json", "a")],
)
def test_format_comes_from_the_content_not_the_name(tmp_path: Path, source: str, renamed: str) -> None:
    path = tmp_path / renamed
    path.write_bytes((EXPORTS / source).read_bytes())
    assert summary(run(path)[1]) == summary(run(EXPORTS / source)[1])


def test_byte_order_mark_and_blank_jsonl_lines(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + (EXPORTS / "graph_records.jsonl").read_bytes().replace(b"\n", b"\n\n", 1))
    code, lines, _ = run(path)
    assert code == 0 and [x["record_id"] for x in lines] == list(IDS)


# --- large files, bounded memory ----------------------------------------------------------------


def _big_page(path: Path, records: int) -> int:
    """A Graph page of ``records`` records (~1 KB each) written in pieces; returns its size."""
    template = json.loads((PAYLOADS / "graph_page_deletions.json").read_text())["value"]
    bodies = [json.dumps(r, separators=(",", ":")) for r in template]
    with path.open("w") as handle:
        handle.write(
            '{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#auditLogs/directoryAudits","value":['
        )
        for n in range(records):
            body = bodies[n % 3].replace("16428397", str(n)).replace("16428398", str(n)).replace("16428399", str(n))
            handle.write(("," if n else "") + body)
        handle.write("]}")
    return path.stat().st_size


_PEAK = """
import io, sys
from shared.cli.classify import run_classify
class Count(io.TextIOBase):
    lines = 0
    def write(self, s):
        self.lines += s.count("\\n")
        return len(s)
out = Count()
code = run_classify(sys.argv[1], tenant_id=None, login_base="https://login.microsoftonline.com",
                    identity_app_id=None, out=out, err=sys.stderr)
# VmHWM: this process's own peak RSS (ru_maxrss may also count the parent's pages before exec)
peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")) // 1024
print(code, out.lines, peak)
"""


def test_a_file_far_over_the_old_limit_in_bounded_memory(tmp_path: Path) -> None:
    """32 MB (34,000 records; the old reader refused anything over 10 MiB): every record printed,
    while the child's peak RSS stays far below what holding the parsed file would take (~300 MB)."""
    path = tmp_path / "page.json"
    size = _big_page(path, 34_000)
    assert size > 30 * 1024 * 1024
    proc = subprocess.run(
        [sys.executable, "-c", _PEAK, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    code, printed, peak_mb = (int(x) for x in proc.stdout.split())
    assert (code, printed) == (0, 34_000), proc.stderr[-300:]
    assert peak_mb < 120, peak_mb


# --- malformed, truncated, hostile ---------------------------------------------------------------


def _one_error(err: str, path: Path) -> str:
    assert err.count("\n") == 1 and err.startswith(f"classify: {path}: "), err
    return err


def test_graph_page_truncated_mid_record_prints_what_came_before(tmp_path: Path) -> None:
    whole = tmp_path / "whole.json"
    size = _big_page(whole, 5000)
    cut = tmp_path / "cut.json"
    cut.write_bytes(whole.read_bytes()[: size // 2])
    started = cut.read_bytes().count(b'{"id":"Directory_')
    code, lines, err = run(cut)
    assert code == 2 and len(lines) == started - 1  # every whole record before the break
    assert "truncated JSON" in _one_error(err, cut) and f"byte {size // 2}" in err


def test_graph_page_broken_mid_file_names_the_place(tmp_path: Path) -> None:
    whole = tmp_path / "whole.json"
    _big_page(whole, 5000)
    data = whole.read_bytes()
    at = data.index(b'"activityDisplayName"', len(data) * 3 // 4)
    bad = tmp_path / "bad.json"
    bad.write_bytes(data[:at] + b"NaN, " + data[at:])
    code, lines, err = run(bad)
    assert code == 2 and len(lines) >= 2000
    assert "invalid JSON" in _one_error(err, bad) and "before byte" in err


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b'{"value": [{"id": "x", "activityDisplayName": "a"}, ' + b"[" * 100_000, "nested deeper than 64"),
        (b"[" * 1_000_000, "nested deeper than 64"),
        (b'{"value": [{"a": "\xff"}]}', "invalid UTF-8"),
        (b'{"value": [{"a": 1}] ]', "invalid JSON"),
        (b'{"value": [{"a": 1}]} {"b": 2}', "invalid JSON"),
        (b'{"value": [1, 2, 3]}', "none of the 3 items"),
        (b"[1, 2]", "none of the 2 items"),
        (b'{"a": 1, "a": 2}', "duplicate key"),
        (b"\xff\xfe{\x00}\x00", "UTF-16"),
    ],
)
def test_hostile_json_is_exit_2_with_one_line(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    code, _, err = run(path)
    assert code == 2 and problem in _one_error(err, path)


def test_an_item_over_the_cap_is_refused_before_it_is_built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exports, "ITEM_CAP", 64 * 1024)
    path = tmp_path / "big_item.json"
    path.write_text('{"value": [{"id": "1", "activityDisplayName": "x"}, {"id": "' + "a" * 2_000_000 + '"}]}')
    code, lines, err = run(path)
    assert code == 2 and len(lines) == 1 and "larger than" in _one_error(err, path)


def test_a_big_object_without_a_records_array_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exports, "WHOLE_CAP", 1000)
    path = tmp_path / "obj.json"
    path.write_text(json.dumps({"id": "1", "activityDisplayName": "x", "pad": "y" * 5000}))
    code, _, err = run(path)
    assert code == 2 and "no records array" in _one_error(err, path)


def test_json_lines_bad_line_names_it_after_printing_the_lines_before(tmp_path: Path) -> None:
    lines_in = (EXPORTS / "graph_records.jsonl").read_text().splitlines()
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join([lines_in[0], lines_in[1], lines_in[2][:40], lines_in[0]]) + "\n")
    code, lines, err = run(path)
    assert code == 2 and [x["record_id"] for x in lines] == list(IDS[:2])
    assert "line 3: " in _one_error(err, path)


def test_json_lines_line_over_the_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exports, "ITEM_CAP", 4096)
    first = (EXPORTS / "graph_records.jsonl").read_text().splitlines()[0]
    path = tmp_path / "long.jsonl"
    path.write_text(first + "\n" + first + "\n" + '{"pad": "' + "x" * 10_000 + '"}\n')
    code, lines, err = run(path)
    assert code == 2 and len(lines) == 2 and "line 3 is longer than" in _one_error(err, path)


def _entra_csv_lines() -> list[str]:
    return (EXPORTS / "entra_portal_audit.csv").read_bytes().decode().split("\r\n")


@pytest.mark.parametrize(
    ("mangle", "printed", "problem"),
    [
        (lambda rows: [*rows[:3], rows[3][:200]], 2, "invalid CSV on line 4"),  # cut inside a quoted field
        (lambda rows: [*rows[:3], '"a"b"', rows[3]], 2, "invalid CSV on line 4"),
        (lambda rows: [rows[0], "x,y"], 0, None),  # a short row is a note, not a failure
        (lambda rows: ["a,b,c", *rows[1:]], 0, "no audit-log columns"),
        (lambda rows: ["", ""], 0, "empty"),
    ],
)
def test_entra_csv_malformed(tmp_path: Path, mangle: Any, printed: int, problem: str | None) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes("\r\n".join(mangle(_entra_csv_lines())).encode())
    code, lines, err = run(path)
    assert len(lines) == printed
    if problem is None:
        assert code == 0 and "fields for" in err
    else:
        assert code == 2 and problem in _one_error(err, path)


def test_csv_invalid_utf8_names_its_line(tmp_path: Path) -> None:
    rows = _entra_csv_lines()
    path = tmp_path / "bad.csv"
    path.write_bytes("\r\n".join(rows[:3]).encode() + b"\r\n" + rows[3].encode()[:50] + b"\xff" + b"\r\n")
    code, lines, err = run(path)
    assert code == 2 and len(lines) == 2 and "invalid UTF-8 on line 4" in _one_error(err, path)


@pytest.mark.parametrize(("cap", "value"), [("FIELD_CAP", "x" * 5000), ("LINE_CAP", "y" * 5000)])
def test_csv_field_and_line_caps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cap: str, value: str) -> None:
    monkeypatch.setattr(export_csv, cap, 4096)
    rows = _entra_csv_lines()
    path = tmp_path / "big.csv"
    path.write_bytes("\r\n".join([*rows[:2], rows[2].replace("Adele Vance", value)]).encode())
    code, lines, err = run(path)
    assert code == 2 and len(lines) == 1
    assert ("field larger than field limit" if cap == "FIELD_CAP" else "longer than") in _one_error(err, path)


def test_csv_record_spread_over_too_many_lines(tmp_path: Path) -> None:
    rows = _entra_csv_lines()
    path = tmp_path / "lines.csv"
    path.write_bytes("\r\n".join([rows[0], '"' + "\n" * 5000 + '"']).encode())
    code, _, err = run(path)
    assert code == 2 and "spans over" in _one_error(err, path)


def test_log_analytics_csv_row_with_unreadable_dynamic_column_is_a_note(tmp_path: Path) -> None:
    text = (EXPORTS / "loganalytics_portal_export.csv").read_bytes().decode("utf-8-sig")
    path = tmp_path / "la.csv"
    head, first, *rest = text.split("\r\n")
    broken = first.replace('"[{""id"":""c2a5f6e1', '"[{""id"":c2a5f6e1', 1)
    assert broken != first
    path.write_bytes("\r\n".join([head, broken, *rest]).encode())
    code, lines, err = run(path)
    assert code == 0 and [x["record_id"] for x in lines] == list(IDS[1:])
    assert "targetResources is not a list" in err


def test_stdin_is_streamed_too(monkeypatch: pytest.MonkeyPatch) -> None:
    data = (EXPORTS / "entra_portal_audit.csv").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    code, lines, _ = run("-")
    assert code == 0 and lines[0]["kind"] == "integration_deleted"


# --- the line summary of records no rule reads ----------------------------------------------------


def _mutations(rng: Any, record: dict[str, Any]) -> dict[str, Any]:
    """``record`` (a directoryAudit or AuditLogs row) with a few of the variations real exports show."""
    record = json.loads(json.dumps(record))
    targets_key = "targetResources" if "targetResources" in record else "TargetResources"
    details_key = "additionalDetails" if "additionalDetails" in record else "AdditionalDetails"
    targets = record.get(targets_key)
    choice = rng.randrange(12)
    if isinstance(targets, list) and targets:
        first = targets[0]
        if choice == 0:
            first["appId"] = "11111111-2222-4333-8444-555555555555"
        elif choice == 1:
            first["type"] = rng.choice(["User", "Application", None, "servicePrincipal"])
        elif choice == 2:
            targets.insert(0, rng.choice(["text", 7, None]))
        elif choice == 3:
            first.pop("modifiedProperties", None)
        elif choice == 4 and first.get("modifiedProperties"):
            props = first["modifiedProperties"]
            other = '["AAAAAAAA-1111-4222-8333-444444444444"]'
            props.append({"displayName": "AppId", "oldValue": None, "newValue": other})
            props.append({"displayName": "appid", "oldValue": "[]", "newValue": "[]"})
        elif choice == 5:
            record[targets_key] = json.dumps(targets)
        elif choice == 11 and first.get("modifiedProperties"):
            guid = "bbbbbbbb-1111-4222-8333-444444444444"
            first["modifiedProperties"].insert(
                0,
                {
                    "displayName": rng.choice(
                        ["AppPrincipalId", "TargetId.ServicePrincipalNames", "ServicePrincipal.AppId"]
                    ),
                    "oldValue": None,
                    "newValue": rng.choice(
                        [
                            f'[["{guid}"]]',
                            f'[{{"a": "{guid}"}}]',
                            f'"[\\"{guid}\\"]"',
                            f'["x", "\\u0062{guid[1:]}"]',
                            json.dumps(["x"] * 250 + [guid]),
                            f'[1, "{guid}"]',
                            f'[ "{guid}" ',
                            f"{guid};https://x",
                            "[true]",
                        ]
                    ),
                },
            )
        elif choice == 6:
            first["Type"] = first.pop("type", None)
    if choice == 7:
        record[details_key] = [{"key": "APPID", "value": "  90DB942A-C1EB-4E8D-82E4-EEBF64A7E2AE "}]
    elif choice == 8:
        record[details_key] = [{"key": "AppId", "value": ""}, {"key": "AppId", "value": "x"}]
    elif choice == 9:
        record[details_key] = json.dumps(record.get(details_key) or [])
    elif choice == 10:
        record.pop(targets_key, None)
    if rng.random() < 0.25:  # more tenant markers (docs/security.md, point 10): merged alike on both paths
        other = rng.choice(["0e6f2c55-9a43-4c1b-8f0d-7a2b3c4d5e6f", "3F1C2D4E-5A6B-4C7D-8E9F-0A1B2C3D4E5F"])
        record["resourceId" if rng.random() < 0.5 else "ResourceId"] = f"/tenants/{other}/providers/Microsoft.aadiam"
    if rng.random() < 0.5:  # an activity no rule reads: the record is deferred
        record["activityDisplayName" if "activityDisplayName" in record else "ActivityDisplayName"] = "Update user"
    return record


def test_line_summary_equals_the_filled_record_on_mutated_records() -> None:
    import random

    from shared.cli.classify import record_line
    from shared.core.catalogue import Catalogue
    from shared.core.models import Source
    from shared.detect.classify import classify
    from shared.detect.normalize._util import Context
    from shared.detect.normalize.audit import PASCAL, record_from
    from shared.detect.normalize.deferred import DeferredRecord

    def load(name: str) -> Any:
        return json.loads((PAYLOADS / name).read_text())

    sources = [
        *[(r, Source.GRAPH, None) for r in load("graph_page_deletions.json")["value"]],
        *[(r, Source.GRAPH, None) for r in load("graph_list_updates.json")],
        *[(r, Source.LOG_ANALYTICS, PASCAL) for r in load("loganalytics_auditlogs_rows.json")],
    ]
    rng = random.Random(13)
    catalogue = Catalogue(None)
    summarized = 0
    for n in range(3000):
        raw, source, spelling = sources[n % len(sources)]
        obj = _mutations(rng, raw)
        kwargs: dict[str, Any] = {"spelling": spelling} if spelling else {}
        record = record_from(obj, source, Context(), "x", **kwargs)
        if record is None:
            continue
        verdict = classify(record, catalogue)
        fast = record_line(record, verdict, tenant_id=TENANT, login_base=LOGIN)
        summarized += isinstance(record, DeferredRecord) and record.line_summary() is not None
        if isinstance(record, DeferredRecord):
            record.fill()
        assert record_line(record, verdict, tenant_id=TENANT, login_base=LOGIN) == fast, obj
    assert summarized > 1000  # the cheap path was taken, and agreed, many times


def test_skip_notes_are_capped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "mixed.json"
    record = json.loads((PAYLOADS / "graph_record_other_app.json").read_text())
    path.write_text(json.dumps([*[{"foo": n} for n in range(1500)], record]))
    code, lines, err = run(path)
    notes = err.splitlines()
    assert code == 0 and len(lines) == 1
    assert len(notes) == 1001 and notes[0].endswith("item 0: unsupported object")
    assert notes[-1].endswith("500 more parts were skipped (only the first 1000 are listed)")


_FORMATS = sorted(p.name for p in EXPORTS.iterdir() if p.suffix in (".csv", ".json", ".jsonl"))


@pytest.mark.parametrize("name", _FORMATS)
def test_every_cut_and_every_flipped_byte_is_records_or_one_payload_error(name: str) -> None:
    """Each fixture cut at many places, and with bytes overwritten: the reader yields records and
    then at most one PayloadError; never another exception, never a record after the error."""
    import random

    from shared.core.errors import PayloadError

    data = (EXPORTS / name).read_bytes()
    rng = random.Random(name)
    variants = [data[:cut] for cut in range(0, len(data), max(1, len(data) // 60))]
    for _ in range(60):
        mutated = bytearray(data)
        for _ in range(rng.randrange(1, 4)):
            mutated[rng.randrange(len(mutated))] = rng.choice(b'{}[]",:\\\n\r\x00\xff\xc3a1 ')
        variants.append(bytes(mutated))
    for variant in variants:
        seen = 0
        try:
            for batch in exports.read_export(io.BytesIO(variant)):
                seen += len(batch.records)
        except PayloadError as exc:
            assert str(exc) and "\n" not in str(exc).strip()
        assert seen <= 3
