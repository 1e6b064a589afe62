"""The mapped, typed lane of ``classify FILE`` (shared/detect/normalize/export_lane.py) against the
streaming reader it stands in for: on every fixture, generated pages and mutated, truncated,
repeated-key and hostile pages, ``classify`` prints byte for byte the same stdout and stderr and
exits with the same code whether the lane runs or not; and the lane did run (or stepped aside)
where it should."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path
from typing import Any

import pytest

from shared.cli.classify import run_classify
from shared.detect.normalize import export_lane
from tests.test_classify_exports import EXPORTS, LOGIN, PAYLOADS, TENANT, _big_page, _mutations

CONTEXT = '"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#auditLogs/directoryAudits"'


class Spy:
    """Records what each lane did: ``[(complete, taken)]``; ``None`` when it declined (runs with
    the lane switched off are not recorded)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.lanes: list[tuple[bool, int] | None] = []
        real = export_lane.graph_file
        spy = self

        def graph_file(*args: Any, **kwargs: Any) -> Any:
            lane = real(*args, **kwargs)
            if export_lane.LANE_MAX == 0:  # the run without the lane (see classify): not recorded
                return lane
            if lane is None:
                spy.lanes.append(None)
                return None

            class Watched:
                complete = False
                taken = 0

                def __iter__(self) -> Any:
                    yield from lane
                    self.complete, self.taken = lane.complete, lane.taken
                    spy.lanes.append((lane.complete, lane.taken))

            return Watched()

        monkeypatch.setattr(export_lane, "graph_file", graph_file)


def classify(path: Path, *, lane: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    with monkeypatch.context() as patch:
        if not lane:
            patch.setattr(export_lane, "LANE_MAX", 0)
        out, err = io.StringIO(), io.StringIO()
        code = run_classify(str(path), tenant_id=TENANT, login_base=LOGIN, identity_app_id=None, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def same(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    """``classify`` with the lane equals ``classify`` without it, byte for byte; the result."""
    fast = classify(path, lane=True, monkeypatch=monkeypatch)
    slow = classify(path, lane=False, monkeypatch=monkeypatch)
    assert fast == slow
    return fast


def page(records: list[Any], *, indent: int | None = None, head: str = CONTEXT) -> str:
    if indent is None:
        body = ",".join(json.dumps(r, separators=(",", ":"), ensure_ascii=False) for r in records)
        return "{" + head + (',"value":[' if head else '"value":[') + body + "]}"
    return json.dumps({**json.loads("{" + head + "}"), "value": records}, indent=indent, ensure_ascii=False)


def graph_records() -> list[dict[str, Any]]:
    deletions = json.loads((PAYLOADS / "graph_page_deletions.json").read_text())["value"]
    updates = json.loads((PAYLOADS / "graph_list_updates.json").read_text())
    return [r for r in [*deletions, *updates] if isinstance(r, dict)]


# --- the lane runs, and gives the stream's output -------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [*sorted(EXPORTS.glob("*.json*")), *sorted(EXPORTS.glob("*.csv")), *sorted(PAYLOADS.glob("graph_*.json"))],
    ids=lambda p: p.name,
)
def test_every_fixture_prints_the_same(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    same(path, monkeypatch)


def test_a_generated_page_is_read_by_the_lane_and_prints_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "page.json"
    _big_page(path, 5000)
    spy = Spy(monkeypatch)
    code, out, err = same(path, monkeypatch)
    assert code == 0 and out.count("\n") == 5000 and err == ""
    assert spy.lanes == [(True, 5000)]  # the lane read it all (the second run streamed it: LANE_MAX 0)


def test_compact_and_pretty_printed_pages_of_the_fixtures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    records = graph_records() * 7
    for indent in (None, 2, 4):
        path = tmp_path / f"page{indent}.json"
        path.write_text(page(records, indent=indent), encoding="utf-8")
        spy = Spy(monkeypatch)
        code, out, _ = same(path, monkeypatch)
        assert code == 0 and out.count("\n") == len(records)
        assert spy.lanes == [(True, len(records))], indent


def test_mutated_records_print_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Thousands of records with the variations real exports show (the stream's own mutation set):
    every line, note and summary field equal on both readers. Each page is written twice: as
    mutated (records the schema refuses hand over part-way) and with only the records the typed
    schema takes (the lane reads all of it)."""
    rng = random.Random(7)
    sources = graph_records()
    typed = 0
    for n in range(10):
        records = [_mutations(rng, sources[(n * 300 + i) % len(sources)]) for i in range(300)]
        taken = [r for r in records if _typed(r)]
        for name, part in (("mixed", records), ("typed", taken)):
            path = tmp_path / f"{name}{n}.json"
            path.write_text(page(part), encoding="utf-8")
            spy = Spy(monkeypatch)
            same(path, monkeypatch)
            if name == "typed":
                assert spy.lanes == [(True, len(taken))]
                typed += len(taken)
    assert typed > 1500  # the lane read, and agreed on, many mutated records


def _typed(record: Any) -> bool:
    try:
        export_lane._RECORD.decode(json.dumps(record))
    except Exception:
        return False
    return True


# Records the typed schema refuses: the lane hands the rest of the page to the stream at that item.
_REFUSED: list[Any] = [
    {"id": "x1", "activityDisplayName": "Update user", "newField": "v"},
    {"id": "x2", "activityDisplayName": "Update user", "result": 7},
    {"id": "x3", "ActivityDisplayName": "Update user"},
    {"id": "x4", "activityDisplayName": "Update user", "initiatedBy": {"user": {"id": 1.5}}},
    {"id": "x5", "activityDisplayName": "Update user", "targetResources": "[]"},
    {"id": "x6", "activityDisplayName": "Delete service principal", "targetResources": [[[[[["deep"]]]]]]},
    "a string",
    17,
    None,
    [],
]


@pytest.mark.parametrize("odd", range(len(_REFUSED)))
def test_a_record_the_schema_refuses_hands_the_rest_to_the_stream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, odd: int
) -> None:
    records: list[Any] = graph_records() * 700
    at = len(records) // 2 + 3  # in the middle of a batch
    records.insert(at, _REFUSED[odd])
    path = tmp_path / "page.json"
    path.write_text(page(records), encoding="utf-8")
    spy = Spy(monkeypatch)
    code, out, _ = same(path, monkeypatch)
    assert code == 0 and out.count("\n") >= at - 1
    assert spy.lanes == [(False, at)]


def test_a_lone_surrogate_hands_over_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    records = graph_records() * 50
    text = page(records)
    cut = text.index('"id":"', len(text) // 2)
    path = tmp_path / "page.json"
    path.write_text(text[:cut] + '"id":"\\ud800' + text[cut + 6 :], encoding="utf-8")
    spy = Spy(monkeypatch)
    same(path, monkeypatch)
    assert spy.lanes != [(True, len(records))]  # declined, or handed over at that record


def test_non_ascii_escapes_and_repeated_keys_inside_a_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Inside a record a repeated key keeps its last value on both readers; escapes and non-ASCII
    text are read alike."""
    first = json.dumps(graph_records()[0], separators=(",", ":"))
    variants = [
        first.replace('"activityDisplayName":', '"activityDisplayName":"Update user","activityDisplayName":', 1),
        first.replace('"activityDisplayName":', '"activityDisplayName":"Delete application","activityDisplayName":', 1),
        first.replace('"id":', '"id":"first","id":', 1),
        first.replace("Cisco", "Ci\\u0073co").replace("Webex", "W\\u00e9bex"),
        first.replace('"type":', '"type":"User","type":', 1),
        first.replace("Webex", "Wébex ✓ \\\\ \\/"),
    ]
    path = tmp_path / "page.json"
    path.write_text("{" + CONTEXT + ',"value":[' + ",".join(variants * 20) + "]}", encoding="utf-8")
    spy = Spy(monkeypatch)
    code, out, _ = same(path, monkeypatch)
    assert code == 0 and out.count("\n") == 120 and spy.lanes == [(True, 120)]


# --- the lane declines before printing anything ----------------------------------------------------


@pytest.mark.parametrize(
    "document",
    [
        # the page's own members written twice: the stream reads both arrays, msgspec keeps the last
        '{"value":[R1],"value":[R2]}',
        '{"value":[R1,R2],"@odata.context":"a","value":[R2]}',
        '{"@odata.context":"a","@odata.context":"b","value":[R1]}',
        '{"@odata.context":"x\\u003a","value":[R1],"value":[R2]}',
        '{"@odata.context":"x\\u003a","value":[{}],"value":[R2]}',
        '{"@odata.nextLink":"x\\u003A","value":[{}],"value":[R2]}',
        # repeated with the same items: the first item's bytes are found in the first array, so the
        # compact span check sees more than the items and falls back to counting every colon
        '{"value":[R1],"value":[R1]}',
        '{"value":[R1,R2],"value":[R1,R2]}',
        '{"@odata.context":"a","value":[R2],"value":[R1,R2],"@odata.context":"a"}',
        '{"value":[R1, R2],"value":[R2]}',
        '{"value":[R1,R2],"value":[R2, R1]}',
        '{"@odata.nextLink":"x\\u003a","value":[R1,R2],"value":[R1,R2]}',
        # other shapes the stream reads its own way
        '{"Value":[R1]}',
        '{"value":[R1],"@odata.count":1}',
        '\ufeff{"value":[R1]}',
        '{"value":[R1]} {"value":[R2]}',
        '{"value":[R1]}\n{"value":[R2]}\n',
        '{"value":[R1]',
        '{"value":[R1,',
        '{"value":[R1],}',
        '{"value":[R1]}x',
        '{"value":[R1,R2]}',  # control: the lane reads this one
    ],
)
def test_pages_the_lane_must_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, document: str) -> None:
    r1, r2 = (json.dumps(r, separators=(",", ":")) for r in graph_records()[:2])
    path = tmp_path / "page.json"
    path.write_text(document.replace("R1", r1).replace("R2", r2), encoding="utf-8")
    spy = Spy(monkeypatch)
    same(path, monkeypatch)
    assert spy.lanes == ([(True, 2)] if document == '{"value":[R1,R2]}' else [None] * len(spy.lanes))


def test_a_compact_page_is_checked_on_its_header_and_tail_alone() -> None:
    """Graph's compact pages take the span check (no pass over the file); a page with whitespace
    between items, or items repeated in a second array, does not."""
    import mmap

    r1, r2 = (json.dumps(r, separators=(",", ":")) for r in graph_records()[:2])
    documents = {
        '{"@odata.context":"a:b","value":[R1,R2,R1]}': True,
        '{"value":[R1]}': True,
        '{"value":[R1, R2]}': False,
        '{"value":[R1,R2],"value":[R1,R2]}': False,
        '{"value":[\nR1,R2\n]}': True,
    }
    for document, compact in documents.items():
        data = document.replace("R1", r1).replace("R2", r2).encode()
        with mmap.mmap(-1, len(data)) as mapping:
            mapping.write(data)
            page = export_lane._PAGE.decode(mapping)
            inside = sum(map(len, page.value))
            span = export_lane._item_span(mapping, page.value, inside)
            assert (span is not None) == compact, document
            if span is not None:
                assert data[span[0] : span[1]] == b",".join(bytes(item) for item in page.value)
            assert export_lane._written_once(mapping, page, inside) == ('value":[R1,R2],' not in document)
            del page


def test_every_cut_of_a_page_prints_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Truncated anywhere: the lane declines, and the stream prints the records before the break and
    names the byte offset, exactly as without the lane."""
    data = page(graph_records() * 3).encode()
    path = tmp_path / "page.json"
    for cut in range(1, len(data), max(1, len(data) // 150)):
        path.write_bytes(data[:cut])
        same(path, monkeypatch)
    for flip in range(5, len(data), max(1, len(data) // 150)):
        path.write_bytes(data[:flip] + bytes([data[flip] ^ 0x5A]) + data[flip + 1 :])
        same(path, monkeypatch)


def test_invalid_utf8_in_a_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = page(graph_records() * 30).encode()
    at = data.index(b"Cisco", len(data) // 2)
    path = tmp_path / "page.json"
    path.write_bytes(data[:at] + b"\xff\xfe" + data[at + 2 :])
    code, _, err = same(path, monkeypatch)
    assert code == 2 and "UTF-8" in err


def test_an_item_over_the_stream_cap_is_left_to_the_stream(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.detect.normalize import exports

    monkeypatch.setattr(exports, "ITEM_CAP", 600 * 1024)  # the lane's margin is 4 reads (256 KiB) under it
    records = graph_records()
    big = dict(records[0], resultReason="x" * (400 * 1024))
    path = tmp_path / "page.json"
    path.write_text(page([*records, big, *records]), encoding="utf-8")
    spy = Spy(monkeypatch)
    same(path, monkeypatch)
    assert spy.lanes == [None]
    path.write_text(page([*records, dict(big, resultReason="x" * (200 * 1024))]), encoding="utf-8")
    spy = Spy(monkeypatch)
    same(path, monkeypatch)
    assert spy.lanes == [(True, len(records) + 1)]


def test_files_over_the_bound_pipes_and_empty_pages_are_streamed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "page.json"
    _big_page(path, 300)
    monkeypatch.setattr(export_lane, "LANE_MAX", path.stat().st_size - 1)
    spy = Spy(monkeypatch)
    same(path, monkeypatch)
    assert spy.lanes == [None]
    monkeypatch.setattr(export_lane, "LANE_MAX", path.stat().st_size)
    spy = Spy(monkeypatch)
    same(path, monkeypatch)
    assert spy.lanes == [(True, 300)]
    empty = tmp_path / "empty.json"
    empty.write_text('{"value":[]}')
    spy = Spy(monkeypatch)
    assert same(empty, monkeypatch) == (0, "", "")
    assert spy.lanes == [(True, 0)]
    with path.open("rb") as handle:
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BufferedReader(io.BytesIO(handle.read()))))
    spy = Spy(monkeypatch)
    code, out, _ = classify(Path("-"), lane=True, monkeypatch=monkeypatch)
    assert code == 0 and out.count("\n") == 300 and spy.lanes == [None]  # not a mapped file


# --- process start ----------------------------------------------------------------------------------

_LOADED = """
import runpy, sys
sys.argv = ["shared.cli", "classify", sys.argv[1]]
try:
    runpy.run_module("shared.cli", run_name="__main__")
except SystemExit as exc:
    code = exc.code
heavy = {"pydantic", "azure", "asyncio", "httpx", "msgraph", "kiota_abstractions"}
heavy = sorted({m.split(".")[0] for m in sys.modules} & heavy)
print(code, heavy, file=sys.stderr)
"""


def test_classify_starts_without_the_settings_or_any_sdk(tmp_path: Path) -> None:
    """``python -m shared.cli classify FILE`` imports no settings model (pydantic), no asyncio and
    no SDK: each costs process start on every run (about 0.2 s here before)."""
    import os
    import subprocess
    import sys

    from shared.core.catalogue import DEFAULT_LOGIN_BASE
    from shared.core.settings import login_base_from

    # the shortcut (no settings loaded) gives what the settings give
    assert login_base_from({}) == DEFAULT_LOGIN_BASE == "https://login.microsoftonline.com"
    env = {k: v for k, v in os.environ.items() if k not in ("ENTRA_LOGIN_BASE", "PYTHONPATH")}
    root = Path(__file__).resolve().parent.parent
    path = tmp_path / "page.json"
    path.write_text(page(graph_records()), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-c", _LOADED, str(path)], cwd=root, env=env, capture_output=True, text=True, check=False
    )
    assert done.stderr.strip().splitlines()[-1] == "0 []", done.stderr
    assert done.stdout.count("\n") == len(graph_records())


def test_a_file_that_cannot_be_mapped_is_streamed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mmap

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise OSError(19, "No such device")

    path = tmp_path / "page.json"
    _big_page(path, 30)
    expected = classify(path, lane=False, monkeypatch=monkeypatch)
    monkeypatch.setattr(mmap, "mmap", refuse)
    spy = Spy(monkeypatch)
    assert classify(path, lane=True, monkeypatch=monkeypatch) == expected
    assert spy.lanes == [None]
