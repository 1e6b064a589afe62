"""shared/detect/payload.py, fast: the structure scan's answers, the depth and bracket limits to the
level, repeated keys refused or kept last, and the messages, as literals."""

from __future__ import annotations

from typing import Any

import pytest

from shared.core.errors import PayloadError
from shared.detect.payload import parse_json, structure_scan


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'{"a":1}', (1, 0, 1)),
        (b'{"a":[1,{"b":"x:[]"}]}', (3, 0, 2)),  # brackets and a colon inside a string do not count
        (b'{"a":{"b":"c"},"d":"e:f"}', (2, 0, 3)),
        (b'["\\"[", "\\\\"]', (1, 0, 0)),  # an escaped quote, an escaped backslash before a quote
        (b'["a\\"\\"b", "", "["]', (1, 0, 0)),
        (b"[" * 64 + b"]" * 64, (64, 0, 0)),
        (b"[" * 65 + b"]" * 65, (65, 0, 0)),
        (b"[" * 70 + b"]" * 70, (65, 10, 0)),  # capped at 65 levels, 10 left unpeeled
        (b"[[]", (1, 1, 0)),
        (b"[" * 65, (0, 65, 0)),
        (b"", (0, 0, 0)),
    ],
)
def test_structure_scan(data: bytes, expected: tuple[int, int, int]) -> None:
    assert structure_scan(data) == expected


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("[" * 65 + "]" * 65, "JSON nested deeper than 64 levels"),
        ('{"a":' * 65 + "1" + "}" * 65, "JSON nested deeper than 64 levels"),
        ("[" * 64, "truncated JSON: Expecting value at line 1 column 65"),
        ("[" * 65, "invalid JSON: 65 unbalanced brackets (truncated or malformed)"),
        ('{"b":1,"a":1,"a":2}', "hostile JSON: duplicate key 'a'"),
        ('{"x":{"b":1},"y":{"a":1,"a":2}}', "hostile JSON: duplicate key 'a'"),
        ('{"' + "k" * 60 + '":1,"' + "k" * 60 + '":2}', "hostile JSON: duplicate key '" + "k" * 60 + "'"),
        ('{"' + "k" * 61 + '":1,"' + "k" * 61 + '":2}', "hostile JSON: duplicate key '" + "k" * 60 + "…'"),
        ("[1e400]", "hostile JSON: number '1e400' overflows"),
    ],
)
def test_what_is_refused_and_why(text: str, error: str) -> None:
    with pytest.raises(PayloadError) as refused:
        parse_json(text, limit=10_000)
    assert (str(refused.value), refused.value.status) == (error, 400)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("[" * 64 + "]" * 64, None),
        ('["' + "[" * 70 + '"]', ["[" * 70]),
        ('[1.5, {"a": 2.5, "b": {"c": "d:e"}}]', [1.5, {"a": 2.5, "b": {"c": "d:e"}}]),
    ],
)
def test_what_is_read(text: str, value: Any) -> None:
    read = parse_json(text, limit=10_000)
    if value is None:  # 64 levels: read to the innermost list
        for _ in range(63):
            assert isinstance(read, list) and len(read) == 1
            read = read[0]
        assert read == []
    else:
        assert read == value


def test_a_repeated_key_keeps_its_last_value_when_asked_at_any_level() -> None:
    text = '{"a":1,"a":2,"x":{"b":[1],"b":[2]}}'
    assert parse_json(text, limit=100, repeated_keys="last") == {"a": 2, "x": {"b": [2]}}
    with pytest.raises(PayloadError, match=r"^hostile JSON: duplicate key 'b'$"):  # inner objects first
        parse_json(text, limit=100)


def test_bytes_over_the_limit_are_413() -> None:
    with pytest.raises(PayloadError) as refused:
        parse_json(b"[1, 2]" + b" " * 5, limit=10)
    assert (str(refused.value), refused.value.status) == ("payload too large: 11 bytes, limit 10", 413)
    assert parse_json(b"[1, 2]" + b" " * 4, limit=10) == [1, 2]
