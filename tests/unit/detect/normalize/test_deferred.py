"""shared/detect/normalize/deferred.py: a deferred record reads, compares and hashes as the eager one."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.core.models import AuditRecord, Initiator, Source, TargetResource
from shared.detect.normalize.deferred import DEFERRED_FIELDS, DeferredRecord, Rest, Summary

WHEN = datetime(2026, 11, 29, 23, 0, 0, 1234, tzinfo=UTC)
TARGET = TargetResource("sp-1", "Cisco Webex Identity Integration", "ServicePrincipal", "app-1", ())
INITIATOR = Initiator("user", user_principal_name="admin@contoso.onmicrosoft.com")
REST: Rest = (
    "tenant-1", WHEN, None, "success", "ApplicationManagement", "corr-1", "Core Directory",
    INITIATOR, (TARGET,), (("User-Agent", "x"),),
)  # fmt: skip
EAGER = AuditRecord(
    "r1", "Delete service principal", Source.GRAPH, "tenant-1", WHEN, None, "success", "ApplicationManagement",
    "corr-1", "Core Directory", INITIATOR, (TARGET,), (("User-Agent", "x"),),
)  # fmt: skip


def deferred(text: bytes | None = None, summary: Summary | None = None) -> tuple[DeferredRecord, list[int]]:
    calls: list[int] = []

    def compute() -> Rest:
        calls.append(1)
        return REST

    made = DeferredRecord.create(
        "r1", "Delete service principal", Source.GRAPH, compute, text, summary=(lambda: summary) if summary else None
    )
    return made, calls


def test_the_fields_are_filled_once_on_first_read() -> None:
    record, calls = deferred()
    assert (record.record_id, record.activity, record.source, calls) == ("r1", "Delete service principal", "graph", [])
    assert record.targets == (TARGET,)
    assert (record.tenant_id, record.event_time, record.initiator, record.result) == (
        "tenant-1",
        WHEN,
        INITIATOR,
        "success",
    )
    record.fill()
    assert calls == [1]


def test_it_equals_and_hashes_as_the_eager_record() -> None:
    record, _ = deferred()
    assert record == EAGER
    assert hash(record) == hash(EAGER)
    assert {EAGER: "seen"}[record] == "seen"
    assert record.__eq__("r1") is NotImplemented
    assert record != "r1"
    other, _ = deferred()
    assert other == record


def test_a_different_value_is_a_different_record() -> None:
    failed: Rest = (*REST[:3], "failure", *REST[4:])  # type: ignore[assignment]
    record = DeferredRecord.create("r1", "Delete service principal", Source.GRAPH, lambda: failed)
    assert record != EAGER


def test_line_summary_until_filled() -> None:
    summary: Summary = ("tenant-1", WHEN, INITIATOR, "sp-1", "app-1")
    record, calls = deferred(summary=summary)
    assert record.line_summary() == summary
    assert calls == []
    record.fill()
    assert record.line_summary() is None
    assert deferred()[0].line_summary() is None


def test_may_mention_reads_the_kept_text_only() -> None:
    record, calls = deferred(b'{"appid":"90db942a-c1eb-4e8d-82e4-eebf64a7e2ae"}')
    assert record.may_mention((b"cisco webex identity", b"90db942a-c1eb-4e8d-82e4-eebf64a7e2ae")) is True
    assert record.may_mention((b"cisco webex identity",)) is False
    assert record.may_mention(()) is False
    assert calls == []
    without_text, _ = deferred()
    assert without_text.may_mention((b"cisco webex identity",)) is True


def test_a_compute_that_returns_too_few_fields_is_refused() -> None:
    record = DeferredRecord.create("r1", "x", Source.GRAPH, lambda: REST[:-1])  # type: ignore[arg-type, return-value]
    with pytest.raises(ValueError, match="zip"):
        record.fill()


def test_every_deferred_field_reads_through_a_descriptor_on_the_class() -> None:
    assert DEFERRED_FIELDS == (
        "tenant_id", "event_time", "ingested_time", "result", "category", "correlation_id",
        "logged_by_service", "initiator", "targets", "additional_details",
    )  # fmt: skip
    for name in DEFERRED_FIELDS:
        descriptor = getattr(DeferredRecord, name)
        assert type(descriptor).__name__ == "_Deferred"
        assert descriptor.slot is AuditRecord.__dict__[name]
