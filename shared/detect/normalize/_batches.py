"""Records handed on in batches while an export is read (``classify FILE``, :mod:`shared.detect.normalize.exports`).

Every streamed reader — JSON Lines, a records array, a query table's rows, a CSV file — does the
same around its own per-item work: fill an :class:`~shared.core.models.Extraction`, hand it on once it
holds :data:`BATCH` records or notes (memory stays bounded, the first lines of a 1 GB file print at
once), and when reading breaks with a :class:`~shared.core.errors.PayloadError`, hand on what was read
before the break first, then raise. That is :func:`in_batches`; the readers supply only the items
and what to do with one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from shared.core.errors import PayloadError
from shared.core.models import Extraction
from shared.detect.normalize._util import Context

BATCH = 2000
"""Records (or skip notes) per extraction handed on: big enough to amortise the per-batch work,
small enough to print the first lines of a 1 GB file at once."""

T = TypeVar("T")


def in_batches(items: Iterable[T], take: Callable[[T, Extraction, Context, int], object]) -> Iterator[Extraction]:
    """``take(item, out, ctx, index)`` for each item (it adds records to ``out`` and skip notes
    through ``ctx``); the extraction is yielded whenever it is full, at the end, and — before the
    error propagates — when the items or ``take`` raise :class:`PayloadError`."""
    out = Extraction()
    ctx = Context(skipped=out.skipped)
    try:
        for index, item in enumerate(items):
            take(item, out, ctx, index)
            if len(out.records) >= BATCH or len(out.skipped) >= BATCH:
                yield out
                out = Extraction()
                ctx.skipped = out.skipped
    except PayloadError:
        yield out  # every record before the break is printed first
        raise
    yield out
