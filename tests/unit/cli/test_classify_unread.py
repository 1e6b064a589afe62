"""shared/cli/classify.py: the line of a record no rule reads built as an ``UnreadLine`` (what the
mapped lane renders) encodes to the very bytes of ``record_line``'s dict for the same record, and
the writer's lines reach stdout's bytes unchanged (or go through the text stream when it would
change them)."""

from __future__ import annotations

import io
import json
import sys
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from shared.cli.classify import UnreadLine, _utf8_buffer, _Writer, record_line
from shared.core.catalogue import Catalogue
from shared.core.clock import format_timestamp
from shared.core.models import AuditRecord, Initiator, Source, TargetResource
from shared.detect.classify import NO_RULE, classify
from shared.detect.normalize.export_lane import Rendered

LOGIN = "https://login.microsoftonline.com"
TENANT = "11111111-2222-3333-4444-555555555555"


def _record(**fields: Any) -> AuditRecord:
    return AuditRecord(
        record_id=fields.get("record_id", "Directory_1"),
        activity=fields.get("activity", "Update user"),
        source=Source.GRAPH,
        event_time=fields.get("event_time"),
        initiator=fields.get("initiator", Initiator()),
        targets=fields.get("targets", ()),
    )


@pytest.mark.parametrize("tenant", [None, TENANT])
@pytest.mark.parametrize(
    "record",
    [
        _record(),
        _record(
            record_id="Directory_ü\u2028\"'\\</script>",
            activity="Add member to group ✓",
            event_time=datetime(2024, 5, 1, 10, 0, 12, 684058, tzinfo=UTC),
            initiator=Initiator("user", "u1", "Admin", "admin@contoso.com"),
            targets=(TargetResource(id="t1", app_id="90db942a-c1eb-4e8d-82e4-eebf64a7e2ae"),),
        ),
        _record(initiator=Initiator("app", "a1", "Some app"), targets=(TargetResource(id=None),)),
    ],
)
def test_an_unread_line_is_the_record_line(record: AuditRecord, tenant: str | None) -> None:
    verdict = classify(record, Catalogue(None))
    assert verdict == NO_RULE
    target = record.targets[0] if record.targets else None
    line = UnreadLine(
        record_id=record.record_id,
        activity=record.activity,
        app_id=target.app_id if target else None,
        tenant_id=tenant,
        event_time=format_timestamp(record.event_time) if record.event_time else None,
        initiator=record.initiator.label,
        source=record.source,
        target_id=target.id if target else None,
    )
    expected = record_line(record, verdict, tenant_id=tenant, login_base=LOGIN)
    encoder = msgspec.json.Encoder()
    assert encoder.encode(line) == encoder.encode(expected)
    assert json.loads(encoder.encode(line)) == json.loads(json.dumps(expected))


def test_the_unread_line_s_constants_are_the_verdict_s() -> None:
    line = UnreadLine(
        record_id="r", activity="a", app_id=None, tenant_id=None, event_time=None, initiator="x", source="graph",
        target_id=None,
    )  # fmt: skip
    assert (line.app, line.kind, line.action, line.rule) == (None, NO_RULE.kind, NO_RULE.action, NO_RULE.rule)
    assert NO_RULE.app is None and NO_RULE.target is None  # so no app id, app key or consent URL to show


def _writer(out: Any) -> _Writer:
    return _Writer(Catalogue(None), TENANT, LOGIN, out)


def _batch(writer: _Writer) -> Rendered:
    unread = writer.unread(
        record_id="r1", activity="Update user ✓", app_id=None, event_time=None, initiator="admin",
        source=Source.GRAPH, target_id="t1",
    )  # fmt: skip
    return Rendered(lines=[unread, _record(record_id="r2", activity="Delete service principal")])


def test_stdout_bytes_are_the_text_stream_s(monkeypatch: pytest.MonkeyPatch) -> None:
    text = io.StringIO()
    writer = _writer(text)
    writer.write(_batch(writer))
    raw = io.BytesIO()
    wrapped = io.TextIOWrapper(raw, encoding="utf-8", newline="\n")
    wrapped.write("first\n")  # pending text is flushed before the bytes
    assert _utf8_buffer(wrapped) is None  # not stdout: it may translate newlines
    monkeypatch.setattr(sys, "stdout", wrapped)
    assert _utf8_buffer(wrapped) is raw
    writer = _writer(wrapped)
    writer.write(_batch(writer))
    wrapped.flush()
    assert raw.getvalue().decode("utf-8") == "first\n" + text.getvalue()
    lines = text.getvalue().splitlines()
    assert [json.loads(line)["record_id"] for line in lines] == ["r1", "r2"]
    assert json.loads(lines[0])["tenant_id"] == TENANT and json.loads(lines[0])["rule"] == NO_RULE.rule


@pytest.mark.parametrize(
    "out",
    [
        io.StringIO(),
        io.TextIOWrapper(io.BytesIO(), encoding="latin-1"),
        io.TextIOWrapper(io.BytesIO(), encoding="utf-16"),
        io.TextIOWrapper(io.BytesIO(), encoding="utf-8-sig"),
    ],
)
def test_other_streams_get_text(out: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdout", out)
    assert _utf8_buffer(out) is None


def test_text_msgspec_refuses_is_written_as_json_dumps_writes_it() -> None:
    out = io.StringIO()
    writer = _writer(out)
    unread = writer.unread(
        record_id="r\ud800", activity="Update user", app_id=None, event_time=None, initiator="admin",
        source=Source.GRAPH, target_id=None,
    )  # fmt: skip
    writer.write(Rendered(lines=[unread]))
    assert out.getvalue() == json.dumps(msgspec.to_builtins(unread), separators=(",", ":"), ensure_ascii=False) + "\n"
    assert out.getvalue().startswith('{"record_id":"r\ud800","activity":"Update user","app_id":null,"app":null,')


def test_a_glanced_record_prints_its_line_unless_the_verdict_names_an_app() -> None:
    """A record a rule reads comes with its rendered line: used (with the verdict's kind, action and
    rule) when the verdict names no app; otherwise ``record_line`` decides, consent URL and all."""
    from shared.core.catalogue import INTEGRATION_APP_ID
    from shared.detect.normalize.deferred import DEFERRED_FIELDS, DeferredRecord
    from shared.detect.normalize.export_lane import Glanced

    def deferred(record: AuditRecord, text: bytes) -> DeferredRecord:
        rest: Any = tuple(getattr(record, name) for name in DEFERRED_FIELDS)
        return DeferredRecord.create(record.record_id, record.activity, record.source, lambda: rest, text)

    ours = TargetResource(id="sp1", display_name="Cisco Webex Identity Integration", app_id=INTEGRATION_APP_ID)
    other = TargetResource(id="sp2", display_name="Other", app_id="0f49279a-6409-40be-b336-e39f35e5e9a1")
    cases = [
        _record(record_id="r1", activity="Delete service principal", targets=(other,)),
        _record(record_id="r2", activity="Delete service principal", targets=(ours,)),
    ]
    for record in cases:
        out = io.StringIO()
        writer = _writer(out)
        target = record.targets[0]
        line = writer.unread(
            record_id=record.record_id, activity=record.activity, app_id=target.app_id, event_time=None,
            initiator="unknown", source=Source.GRAPH, target_id=target.id,
        )  # fmt: skip
        writer.write(Rendered(lines=[Glanced(deferred(record, str(target).lower().encode()), line)]))
        plain = io.StringIO()
        _writer(plain).write(Rendered(lines=[record]))
        assert out.getvalue() == plain.getvalue()
    first, second = (json.loads(_line_for(record)) for record in cases)
    assert (first["rule"], first["app"]) == ("not-a-webex-app", None)
    assert (second["rule"], second["app"], "consent_url" in second) == ("integration-soft-deleted", "integration", True)


def _line_for(record: AuditRecord) -> str:
    out = io.StringIO()
    _writer(out).write(Rendered(lines=[record]))
    return out.getvalue()


class _Trickle(io.RawIOBase):
    """A raw stream taking at most ``size`` bytes a write (as a pipe may when a signal lands), or
    none at all (``None``: a non-blocking stream that would block)."""

    def __init__(self, size: int | None) -> None:
        self.size, self.data = size, bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int | None:
        if self.size is None:
            return None
        taken = bytes(data[: self.size])
        self.data += taken
        return len(taken)


def test_an_unbuffered_stdout_gets_every_byte(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = _Trickle(7)
    wrapped = io.TextIOWrapper(raw, encoding="utf-8", newline="\n", write_through=True)  # type: ignore[arg-type]
    monkeypatch.setattr(sys, "stdout", wrapped)
    assert _utf8_buffer(wrapped) is raw
    writer = _writer(wrapped)
    writer.write(_batch(writer))
    text = io.StringIO()
    writer = _writer(text)
    writer.write(_batch(writer))
    assert raw.data.decode("utf-8") == text.getvalue() and len(raw.data) > 300


def test_a_stdout_that_would_block_is_an_os_error(monkeypatch: pytest.MonkeyPatch) -> None:
    wrapped = io.TextIOWrapper(_Trickle(None), encoding="utf-8", newline="\n")  # type: ignore[arg-type]
    monkeypatch.setattr(sys, "stdout", wrapped)
    writer = _writer(wrapped)
    with pytest.raises(BlockingIOError):
        writer.write(_batch(writer))
