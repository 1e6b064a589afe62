"""A streaming nesting-depth guard for JSON read chunk by chunk (the export reader, exports.py).

The incremental parser (ijson) names every event by its path, so its cost grows with the square of
the nesting depth: 100 KB of ``[`` takes gigabytes. Every chunk passes through :class:`NestingGuard`
before the parser sees it, which refuses a document nested deeper than :data:`MAX_DEPTH` at C speed
(``bytes.translate``/``replace``, as :func:`shared.detect.payload.structure_scan` does for whole payloads),
carrying across chunks whether it is inside a string and the depth it reached.
"""

from __future__ import annotations

from shared.core.errors import PayloadError
from shared.detect.payload import MAX_DEPTH

_QUOTE = b'"'
_BACKSLASH = b"\\"
_ESCAPED_BACKSLASH = b"\\\\"
_ESCAPED_QUOTE = b'\\"'
_BLANKED = b"  "
_NOT_STRUCTURE = bytes(c for c in range(256) if c not in b'[]{}"')
_FOLD = bytes.maketrans(b"{}", b"[]")


class NestingGuard:
    """Feed it the document's bytes in order; it raises :class:`PayloadError` once the nesting
    could exceed :data:`MAX_DEPTH`. Conservative within a chunk (it may count a level that a
    closing bracket earlier in the chunk undid), exact across chunks; real exports stay below 10."""

    __slots__ = ("_carry", "_depth", "_in_string")

    def __init__(self) -> None:
        self._depth = 0
        self._in_string = False
        self._carry = b""  # a trailing run of backslashes: its escape ends in the next chunk

    def feed(self, chunk: bytes, offset: int) -> None:
        """Account for ``chunk``, which starts at byte ``offset`` of the document."""
        data = self._carry + chunk
        stripped = data.rstrip(_BACKSLASH)
        # Only the parity of a trailing run matters (pairs are escaped backslashes): bounded carry.
        self._carry = _BACKSLASH if (len(data) - len(stripped)) % 2 else b""
        if _ESCAPED_BACKSLASH in stripped:  # rare: a search is cheaper than a copy
            stripped = stripped.replace(_ESCAPED_BACKSLASH, _BLANKED)
        if _ESCAPED_QUOTE in stripped:
            stripped = stripped.replace(_ESCAPED_QUOTE, _BLANKED)
        skeleton = stripped.translate(_FOLD, _NOT_STRUCTURE)
        if self._in_string:
            skeleton = _QUOTE + skeleton  # reopen the string the last chunk ended in
        if _QUOTE in skeleton:
            while True:  # strings holding no bracket vanish two quotes at a time (parity is kept)
                shorter = skeleton.replace(b'""', b"")
                if len(shorter) == len(skeleton):
                    break
                skeleton = shorter
            parts = skeleton.split(_QUOTE)
            self._in_string = len(parts) % 2 == 0
            skeleton = b"".join(parts[0::2])
        peeled = 0
        while b"[]" in skeleton:
            skeleton = skeleton.replace(b"[]", b"")
            peeled += 1
            if peeled > MAX_DEPTH:
                break
        opens = skeleton.count(b"[")
        if self._depth + opens + peeled > MAX_DEPTH:
            raise PayloadError(
                f"invalid JSON: nested deeper than {MAX_DEPTH} levels (in bytes {offset}-{offset + len(chunk)})"
            )
        self._depth = max(0, self._depth + opens - (len(skeleton) - opens))
