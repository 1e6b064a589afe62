"""A reference reading of JSON, independent of the gate's code: what the fuzz tests of every reader
compare the gate (shared/detect/payload.py ``parse_json``) with."""

from __future__ import annotations

import json
import math
from typing import Any

from shared.core.errors import PayloadError
from shared.detect.payload import MAX_DEPTH, parse_json


class _Refused(ValueError):
    pass


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise _Refused("duplicate key")
    return dict(pairs)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused("overflow")
    return value


def _constant(name: str) -> None:
    raise _Refused(name)


def _depth(value: object) -> int:
    """Nesting levels of containers (iterative: the documents tested nest thousands deep)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, level + 1)
            stack.extend((child, level + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


def oracle(data: bytes, limit: int) -> tuple[bool, object]:
    """(accepted, value) for ``data`` by the reference reading, independent of the gate's code."""
    if len(data) > limit:
        return False, None
    data = data.removeprefix(b"\xef\xbb\xbf")
    try:
        text = data.decode("utf-8")
        value = json.loads(text, object_pairs_hook=_unique, parse_float=_finite, parse_constant=_constant, strict=True)
    except (ValueError, RecursionError):  # UnicodeDecodeError, JSONDecodeError and _Refused are ValueErrors
        return False, None
    return (True, value) if _depth(value) <= MAX_DEPTH else (False, None)


def gate(data: bytes, limit: int) -> tuple[bool, object]:
    try:
        return True, parse_json(data, limit=limit)
    except PayloadError as exc:
        assert "\n" not in str(exc)
        return False, None
