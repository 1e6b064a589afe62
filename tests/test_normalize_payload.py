"""parse_json: hostile input never gets past the gate, and nothing but PayloadError escapes it."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.core.errors import PayloadError
from shared.detect.normalize import extract
from shared.detect.payload import MAX_DEPTH, parse_json, structure_scan
from tests.unit.detect.json_oracle import gate, oracle

LIMIT = 1024 * 1024


def _error(data: bytes | str, limit: int = LIMIT) -> PayloadError:
    with pytest.raises(PayloadError) as info:
        parse_json(data, limit=limit)
    message = str(info.value)
    assert "\n" not in message
    return info.value


def test_valid_json_bytes_and_text() -> None:
    assert parse_json(b'{"a": [1, 2.5, "x", null, true]}', limit=LIMIT) == {"a": [1, 2.5, "x", None, True]}
    assert parse_json('{"a": "é"}', limit=LIMIT) == {"a": "é"}
    assert parse_json(b"\xef\xbb\xbf{}", limit=LIMIT) == {}


def test_oversized_is_413_before_parsing() -> None:
    # Invalid JSON too: size is checked first, so the answer is 413, not a syntax error.
    err = _error(b"{" * 2000, limit=1000)
    assert err.status == 413
    assert _error("x" * 2000, limit=1000).status == 413
    assert _error("é" * 600, limit=1000).status == 413  # 1200 bytes once encoded


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b'{"a": 1', "truncated"),
        (b'{"a": [1, 2', "truncated"),
        (b'{"a": 1,}', "invalid JSON"),
        (b"", "empty"),
        (b"   ", "empty"),
        (b"\xff\xfe{}", "UTF-8"),
        (b'{"a": "\xc3"}', "UTF-8"),
        (b"[NaN]", "NaN"),
        (b'{"x": Infinity}', "Infinity"),
        (b"[-Infinity]", "Infinity"),
        (b"[1e999]", "overflows"),
        (b'{"a": 1, "a": 2}', "duplicate key 'a'"),
        (b'{"outer": {"in": [{"k": 1, "k": 1}]}}', "duplicate key 'k'"),
        (b"1" * 5000, "invalid JSON"),
    ],
)
def test_rejects(data: bytes, words: str) -> None:
    err = _error(data)
    assert err.status == 400
    assert words in str(err)


def test_lone_surrogate_text() -> None:
    assert "surrogate" in str(_error('{"a": "\ud800"}'))


@pytest.mark.parametrize("opener", [b"[", b'{"a":'])
def test_deep_nesting_never_recurses(opener: bytes) -> None:
    closer = b"]" if opener == b"[" else b"}"
    for depth in (10**5, MAX_DEPTH + 1):
        err = _error(opener * depth + b"1" + closer * depth, limit=10**7)
        assert "nested deeper" in str(err)
    _error(b"[" * 10**5, limit=10**7)  # unbalanced: refused without parsing
    deepest: list[object] = []
    for _ in range(MAX_DEPTH - 1):
        deepest = [deepest]
    assert parse_json(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH, limit=LIMIT) == deepest, "exactly MAX_DEPTH levels: read"


def test_brackets_inside_strings_do_not_count() -> None:
    nested_text = json.dumps({"v": "[" * 500, "w": "]]]}}}", "x": '\\"[[[', "y": "\\"})
    assert parse_json(nested_text, limit=LIMIT)["v"] == "[" * 500
    # Structure hidden between strings that hold stray closers is still counted.
    hostile = "".join('["]",' for _ in range(MAX_DEPTH + 5)) + "1" + "]" * (MAX_DEPTH + 5)
    assert "nested deeper" in str(_error(hostile))


def test_structure_depth_is_exact_for_valid_json() -> None:
    assert structure_scan(b"1")[:2] == (0, 0)
    assert structure_scan(b'{"a": [{"b": "[[["}]}')[:2] == (3, 0)
    assert structure_scan(b'["\\\\", ["\\"]"]]')[:2] == (2, 0)


def test_messages_do_not_echo_input() -> None:
    secret = "k" * 5000
    err = _error(json.dumps({secret: 1}).replace("}", f', "{secret}": 2}}').encode())
    assert len(str(err)) < 120


def test_wrong_input_type() -> None:
    with pytest.raises(PayloadError):
        parse_json(12, limit=LIMIT)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_fuzz_random_bytes(data: bytes) -> None:
    """Accepted exactly when strict JSON accepts it (not: anything may be refused), then extracted
    or refused with a one-line PayloadError."""
    accepted, value = gate(data, 200)
    assert (accepted, value) == oracle(data, 200)
    if accepted:
        _extract_or_refuse(value)


def _extract_or_refuse(value: object) -> None:
    """``extract`` reads a supported shape or refuses it, one line naming why; nothing else escapes."""
    try:
        extraction = extract(value)
    except PayloadError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert isinstance(value, list | dict), "only an object or an array holds records"
    assert all(r.record_id for r in extraction.records)


_leaf = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20)
)
_keys = st.sampled_from(
    [
        "id",
        "Id",
        "value",
        "records",
        "tables",
        "data",
        "eventType",
        "specversion",
        "type",
        "activityDisplayName",
        "targetResources",
        "modifiedProperties",
        "oldValue",
        "newValue",
        "initiatedBy",
        "user",
        "app",
        "schemaId",
        "essentials",
        "alertContext",
        "condition",
        "rows",
        "columns",
        "properties",
        "operationName",
        "data_base64",
        "additionalDetails",
        "key",
        "AppId",
        "SearchResults",
        "windowStartTime",
        "time",
        "category",
    ]
) | st.text(max_size=8)
_trees = st.recursive(
    _leaf, lambda kids: st.lists(kids, max_size=5) | st.dictionaries(_keys, kids, max_size=6), max_leaves=40
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_trees)
def test_fuzz_random_json_trees(tree: object) -> None:
    raw = json.dumps(tree).encode()
    assert parse_json(raw, limit=LIMIT) == json.loads(raw), "a valid document is accepted as it is"
    _extract_or_refuse(json.loads(raw))


def test_alternating_bracket_kinds_are_counted_per_level() -> None:
    depth = MAX_DEPTH + 2
    text = "".join('{"a":[' for _ in range(depth // 2)) + "1" + "]}" * (depth // 2)
    assert structure_scan(text.encode())[:2] == (MAX_DEPTH + 1, 2)
    assert "nested deeper" in str(_error(text))
