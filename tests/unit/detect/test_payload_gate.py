"""The JSON gate (shared/detect/payload.py) against an oracle: strict JSON as RFC 8259 reads it, keys unique,
no NaN/Infinity, finite numbers, at most MAX_DEPTH levels. Random input is accepted exactly when the oracle
accepts it (so a gate that refused everything, or let control characters through, fails), with the same value."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from shared.core.catalogue import INTEGRATION_APP_ID
from shared.core.errors import PayloadError
from shared.detect.normalize import extract_json
from shared.detect.payload import MAX_DEPTH, parse_json
from tests.unit.detect.json_oracle import gate, oracle

LIMIT = 4096

_SAMPLES = [b"0", b"[]", b'{"a": 1}', b'"x"', b"\xef\xbb\xbf{}", b'{"a": 1, "a": 2}', b"NaN", b"1e999", b"", b" "]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.binary(max_size=60),
        st.sampled_from(_SAMPLES),
        st.lists(st.sampled_from(list(b'{}[]",:01aetrufnl \x01\t\\')), max_size=40).map(bytes),
    )
)
@example(b'"a\x01b"')
@example(b'["\x1f"]')
@example(b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1))
def test_random_bytes_are_accepted_exactly_when_strict_json_accepts_them(data: bytes) -> None:
    assert gate(data, LIMIT) == oracle(data, LIMIT)


_leaf = (
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
_trees = st.recursive(
    _leaf,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=6), kids, max_size=4),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_trees, st.booleans())
def test_every_valid_document_is_accepted_with_its_value(tree: object, ascii_only: bool) -> None:
    raw = json.dumps(tree, ensure_ascii=ascii_only).encode("utf-8")
    ok, value = gate(raw, limit=len(raw))
    assert ok, raw[:200]
    assert value == json.loads(raw)


@pytest.mark.parametrize("char", [chr(c) for c in range(0x20)])
def test_raw_control_characters_inside_strings_are_refused(char: str) -> None:
    """RFC 8259 §7: control characters in a string must be escaped. A raw one is refused by the gate and
    by the typed lane for Graph pages; the escaped form is the same text, accepted."""
    raw = '{"value": [{"id": "a' + char + 'b"}]}'
    with pytest.raises(PayloadError, match="JSON"):
        parse_json(raw.encode(), limit=LIMIT)
    with pytest.raises(PayloadError):
        extract_json(raw.encode(), limit=LIMIT)
    escaped = json.dumps({"value": [{"id": "a" + char + "b"}]})
    assert parse_json(escaped.encode(), limit=LIMIT) == {"value": [{"id": "a" + char + "b"}]}


def test_a_graph_record_with_a_raw_tab_in_a_name_is_refused_and_escaped_is_read() -> None:
    record = {
        "id": "Directory_x_1",
        "activityDisplayName": "Delete service principal",
        "activityDateTime": "2024-05-01T10:11:12.1234567+00:00",
        "result": "success",
        "targetResources": [{"id": "sp", "displayName": "Cisco\tWebex", "type": "ServicePrincipal"}],
        "additionalDetails": [{"key": "AppId", "value": INTEGRATION_APP_ID}],
    }
    escaped = json.dumps({"value": [record]}).encode()
    (read,) = extract_json(escaped, limit=LIMIT).records
    assert read.targets[0].display_name == "Cisco\tWebex"
    with pytest.raises(PayloadError):
        extract_json(escaped.replace(b"\\t", b"\t"), limit=LIMIT)
