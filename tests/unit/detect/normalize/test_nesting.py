"""shared/detect/normalize/_nesting.py: the streaming depth guard — 64 levels pass, 65 do not,
however the document is cut into chunks, and brackets inside strings never count (literals)."""

from __future__ import annotations

import pytest

from shared.core.errors import PayloadError
from shared.detect.normalize._nesting import NestingGuard


def feed(*chunks: bytes) -> NestingGuard:
    guard, offset = NestingGuard(), 0
    for chunk in chunks:
        guard.feed(chunk, offset)
        offset += len(chunk)
    return guard


@pytest.mark.parametrize(
    "chunks",
    [
        (b"[" * 64,),
        (b"[" * 32, b"[" * 32),
        (b"[[[", b"]]]", b"[" * 64),
        (b"[" * 60 + b"]" * 60, b"[" * 60),
        (b"[]" * 100,),
        (b"[" * 64 + b"]" * 64,),
        (b'["' + b"[" * 100 + b'"]',),
        (b'["' + b"[" * 40, b"[" * 40 + b'"]'),
        (b'["\\"' + b"[" * 70 + b'"]',),
        (b'["abc\\', b'"' + b"[" * 70 + b'"]'),
        (b'{"a": "' + b"{" * 70 + b'"}',),
    ],
)
def test_within_the_limit(chunks: tuple[bytes, ...]) -> None:
    feed(*chunks)


@pytest.mark.parametrize(
    ("chunks", "where"),
    [
        ((b"[" * 65,), "in bytes 0-65"),
        ((b"{" * 65,), "in bytes 0-65"),
        ((b"[" * 32, b"[" * 33), "in bytes 32-65"),
        ((b"[" * 64, b"]", b"[["), "in bytes 65-67"),
        ((b'["\\\\"' + b"[" * 70 + b'"]',), "in bytes 0-77"),
        ((b'["abc\\\\', b'"' + b"[" * 70 + b'"]'), "in bytes 7-80"),
        ((b'["a"', b"[" * 64), "in bytes 4-68"),
        ((b"[" * 64 + b"\xff", b"["), "in bytes 65-66"),
        ((b"[" * 65 + b"]" * 65,), "in bytes 0-130"),
        ((b"[" * 64 + b"\x00", b"["), "in bytes 65-66"),
    ],
)
def test_deeper_than_64_is_refused_with_its_byte_range(chunks: tuple[bytes, ...], where: str) -> None:
    with pytest.raises(PayloadError, match=f"invalid JSON: nested deeper than 64 levels \\({where}\\)"):
        feed(*chunks)


def test_the_state_carried_between_chunks() -> None:
    guard = feed(b'[["abc', b"def")
    assert (guard._depth, guard._in_string, guard._carry) == (2, True, b"")
    guard = feed(b'["x\\')
    assert (guard._depth, guard._in_string, guard._carry) == (1, True, b"\\")
    guard = feed(b'["x\\\\')
    assert guard._carry == b""
    guard = feed(b'["x"]', b"]")
    assert (guard._depth, guard._in_string) == (0, False)
