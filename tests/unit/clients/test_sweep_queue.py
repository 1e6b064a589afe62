"""The sweep message parser (``webex-tenant-sweep``): what the timer writes reads back; anything
malformed, truncated, oversized or hostile is a PayloadError (dropped, never retried)."""

from __future__ import annotations

import json

import pytest

from shared.clients.sweep_queue import MAX_MESSAGE_BYTES, SweepMessage
from shared.core.errors import PayloadError

TENANT = "6f1c2a9e-3b4d-4c5e-8f70-1a2b3c4d5e6f"


def test_round_trip_normalises_the_id_and_the_time() -> None:
    message = SweepMessage.from_json(
        json.dumps({"v": 1, "tenant_id": TENANT.upper(), "sweep_id": "2026-11-30T01:02:03.1234567+00:00"})
    )
    assert message == SweepMessage(TENANT, "2026-11-30T01:02:03.123456Z")
    assert SweepMessage.from_json(message.to_json().encode()) == message
    assert SweepMessage.from_json(json.dumps({"tenant_id": TENANT, "sweep_id": "2026-11-30T01:02:03Z"})).v == 1


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b'{"v":1,"tenant_id":"' + TENANT.encode() + b'","sweep_id":"2026-11-30T01:02',  # truncated
        b"[]",
        b'"text"',
        b"\xff\xfe{}",  # not UTF-8
        json.dumps({"v": 1, "sweep_id": "2026-11-30T01:02:03Z"}).encode(),  # no tenant
        json.dumps({"v": 1, "tenant_id": TENANT}).encode(),  # no sweep id
        json.dumps({"v": 2, "tenant_id": TENANT, "sweep_id": "2026-11-30T01:02:03Z"}).encode(),
        json.dumps({"v": True, "tenant_id": TENANT, "sweep_id": "2026-11-30T01:02:03Z"}).encode(),
        json.dumps({"tenant_id": "contoso.onmicrosoft.com", "sweep_id": "2026-11-30T01:02:03Z"}).encode(),
        json.dumps({"tenant_id": "../" + TENANT, "sweep_id": "2026-11-30T01:02:03Z"}).encode(),
        json.dumps({"tenant_id": TENANT + "\r\nx", "sweep_id": "2026-11-30T01:02:03Z"}).encode(),
        json.dumps({"tenant_id": ["x"], "sweep_id": "2026-11-30T01:02:03Z"}).encode(),
        json.dumps({"tenant_id": TENANT, "sweep_id": "yesterday"}).encode(),
        json.dumps({"tenant_id": TENANT, "sweep_id": 1764464523}).encode(),
        json.dumps({"tenant_id": TENANT, "sweep_id": "2026-13-45T99:99:99Z"}).encode(),
        b"[" * 100_000,  # oversized and deep
        json.dumps({"tenant_id": TENANT, "sweep_id": "2026-11-30T01:02:03Z", "pad": "x" * MAX_MESSAGE_BYTES}).encode(),
        b"{" + b'"a":{' * 3000 + b"}" * 3001,  # deeply nested, under the size limit
    ],
)
def test_bad_bodies_are_payload_errors(body: bytes) -> None:
    with pytest.raises(PayloadError):
        SweepMessage.from_json(body)
    if len(body) <= MAX_MESSAGE_BYTES:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return
        with pytest.raises(PayloadError):
            SweepMessage.from_json(text)


def test_any_body_is_a_message_or_a_payload_error() -> None:
    """Hypothesis: bytes, text and JSON of any shape never raise anything but PayloadError."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=80),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
        max_leaves=20,
    )
    shaped = st.fixed_dictionaries(
        {"tenant_id": st.one_of(st.just(TENANT), st.text(max_size=60)), "sweep_id": st.one_of(
            st.just("2026-11-30T01:02:03.1234567Z"), st.text(max_size=40))},
        optional={"v": json_values},
    )  # fmt: skip

    def check(body: str | bytes) -> None:
        try:
            message = SweepMessage.from_json(body)
        except PayloadError:
            return
        assert message.tenant_id == message.tenant_id.lower() and len(message.tenant_id) == 36
        assert SweepMessage.from_json(message.to_json()) == message

    @settings(max_examples=300, deadline=None)
    @given(st.one_of(st.binary(max_size=300), json_values.map(json.dumps), shaped.map(json.dumps)))
    def run(body: str | bytes) -> None:
        check(body)

    run()
