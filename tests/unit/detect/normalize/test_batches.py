"""shared/detect/normalize/_batches.py: full batches handed on at 2000, the rest at the end, and what
was read before a break handed on before the error."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.core.errors import PayloadError
from shared.core.models import AuditRecord, Extraction, Source
from shared.detect.normalize._batches import in_batches
from shared.detect.normalize._util import Context


def add_record(item: int, out: Extraction, ctx: Context, index: int) -> None:
    out.records.append(AuditRecord(f"r{item}-{index}", "Delete service principal", Source.DIAGNOSTIC))


def add_note(item: int, out: Extraction, ctx: Context, index: int) -> None:
    ctx.skip(f"line {index}", "not a record")


def test_records_are_handed_on_2000_at_a_time() -> None:
    batches = list(in_batches(range(4001), add_record))
    assert [len(b.records) for b in batches] == [2000, 2000, 1]
    assert batches[1].records[0].record_id == "r2000-2000"
    assert batches[2].records[0].record_id == "r4000-4000"


def test_exactly_one_batch_holds_an_empty_end() -> None:
    assert [len(b.records) for b in in_batches(range(1999), add_record)] == [1999]
    assert [len(b.records) for b in in_batches(range(2000), add_record)] == [2000, 0]
    assert [len(b.records) for b in in_batches([], add_record)] == [0]


def test_skip_notes_fill_a_batch_too_and_follow_the_new_extraction() -> None:
    batches = list(in_batches(range(2001), add_note))
    assert [len(b.skipped) for b in batches] == [2000, 1]
    assert batches[0].skipped[0] == "line 0: not a record"
    assert batches[1].skipped == ["line 2000: not a record"]


def test_what_was_read_before_a_break_comes_first() -> None:
    def items() -> Iterator[int]:
        yield from range(2003)
        raise PayloadError("invalid JSON: truncated")

    seen: list[int] = []
    with pytest.raises(PayloadError, match="truncated"):
        seen.extend(len(b.records) for b in in_batches(items(), add_record))
    assert seen == [2000, 3]


def test_an_error_from_take_hands_on_the_records_before_it() -> None:
    def take(item: int, out: Extraction, ctx: Context, index: int) -> None:
        if item == 2:
            raise PayloadError("line 3: not JSON")
        add_record(item, out, ctx, index)

    seen: list[list[str]] = []
    with pytest.raises(PayloadError, match="line 3"):
        seen.extend([r.record_id for r in b.records] for b in in_batches(range(5), take))
    assert seen == [["r0-0", "r1-1"]]
