"""One helper the export readers' tests share: a reader's batches merged into one extraction."""

from __future__ import annotations

from collections.abc import Iterable

from shared.core.models import Extraction


def merged(parts: Iterable[Extraction]) -> Extraction:
    """Every batch's records, alerts and skipped entries, in order, in one extraction."""
    whole = Extraction()
    for part in parts:
        whole.records.extend(part.records)
        whole.alerts.extend(part.alerts)
        whole.skipped.extend(part.skipped)
    return whole
