"""Safe JSON intake for everything that arrives from outside (HTTP bodies, queue messages, files).

``json.loads`` alone is not safe for hostile input: it recurses once per nesting level (a body of
100,000 ``[`` raises ``RecursionError`` from deep inside the parser), silently keeps the last of
duplicate keys (two ``appId`` keys could make a reader and a logger disagree about what a record
says), accepts ``NaN``/``Infinity`` (not JSON) and parses a 10 GB body as eagerly as a 1 KB one.
:func:`parse_json` closes each of those with one :class:`~shared.core.errors.PayloadError`, which the
triggers answer with 400/413 and never retry.

The nesting check runs *before* parsing and without recursion, at C speed (``bytes.translate`` and
``bytes.replace``), because it must cost little next to ``json.loads`` on the 100k-records/s path.
"""

from __future__ import annotations

import json
import math
from typing import Any, Literal

from shared.core.errors import PayloadError

MAX_DEPTH = 64
"""Deepest nesting accepted. Real payloads (alert → SearchResults → tables → rows) stay below 12."""

_QUOTE = b'"'
_ESCAPED_BACKSLASH = b"\\\\"
_ESCAPED_QUOTE = b'\\"'
_BLANKED = b"  "  # same length as the escapes: CPython replaces equal-length patterns in place
# One ``bytes.translate`` pass deletes everything but brackets, quotes and colons and folds ``{}`` into
# ``[]``: depth does not depend on the bracket kind (mismatched kinds are the parser's to report).
_COLON = b":"
_NOT_STRUCTURE = bytes(c for c in range(256) if c not in b'[]{}":')
_FOLD = bytes.maketrans(b"{}", b"[]")
_BOM = b"\xef\xbb\xbf"
_SHOW = 60  # never echo more than this many characters of input in a message


class _Hostile(ValueError):
    """Raised inside the decoder hooks; turned into a :class:`PayloadError` by :func:`parse_json`."""


def _pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Hostile(f"duplicate key {_snippet(key)}")
            seen.add(key)
    return obj


def _reject_constant(name: str) -> Any:
    raise _Hostile(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Hostile(f"number {_snippet(text)} overflows")
    return value


_DECODER = json.JSONDecoder(
    object_pairs_hook=_pairs_hook, parse_constant=_reject_constant, parse_float=_finite_float, strict=True
)


def _snippet(text: str) -> str:
    """At most ``_SHOW`` characters of ``text``, repr-escaped so a message stays one line."""
    short = text if len(text) <= _SHOW else text[:_SHOW] + "…"
    return repr(short)


def structure_scan(data: bytes) -> tuple[int, int, int]:
    """``(depth, leftover, members)``: the bracket nesting depth of the JSON text ``data`` (capped at
    ``MAX_DEPTH + 1``), how many brackets did not pair up (``0`` for well-formed text), and how many
    object members (``"key": value``) the text holds.

    Exact for valid JSON, iterative, and linear per nesting level at C speed:

    1. drop escape pairs ``\\\\`` then ``\\"`` — left-to-right replacement parses runs of
       backslashes exactly as JSON does, so every remaining ``"`` delimits a string;
    2. keep only ``[]{}":``, with ``{}`` folded into ``[]``;
    3. drop adjacent ``""`` pairs: whatever lay between them held nothing kept, and removing two
       quotes keeps every other quote's open/close parity — what remains are strings that contain
       brackets or colons (timestamps, URLs, JSON-encoded values), split on;
    4. keep the text outside strings (even fields of ``split('"')``); outside strings a ``:`` only
       ever separates a key from its value, so counting them counts the members;
    5. peel innermost ``[]`` pairs: valid JSON empties in exactly ``depth`` passes.
    """
    text = data.replace(_ESCAPED_BACKSLASH, _BLANKED).replace(_ESCAPED_QUOTE, _BLANKED)
    skeleton = text.translate(_FOLD, _NOT_STRUCTURE)
    if _QUOTE in skeleton:
        while True:
            shorter = skeleton.replace(b'""', b"")
            if len(shorter) == len(skeleton):
                break
            skeleton = shorter
        if _QUOTE in skeleton:
            skeleton = b"".join(skeleton.split(_QUOTE)[0::2])
    members = skeleton.count(_COLON)
    if members:
        skeleton = skeleton.translate(None, _COLON)
    for depth in range(MAX_DEPTH + 1):
        if not skeleton:
            return depth, 0, members
        peeled = skeleton.replace(b"[]", b"")  # one pass removes exactly the innermost level
        if len(peeled) == len(skeleton):
            return depth, len(skeleton), members
        skeleton = peeled
    return MAX_DEPTH + 1, len(skeleton), members


def without_bom(raw: bytes) -> bytes:
    """``raw`` without a leading UTF-8 byte-order mark (some Azure senders add one)."""
    return raw[len(_BOM) :] if raw.startswith(_BOM) else raw


def _counting_decoder() -> tuple[json.JSONDecoder, list[int]]:
    """A decoder whose ``object_hook`` adds up the members every decoded object kept.

    ``object_hook`` receives the finished dict (built by the C scanner with its key cache), so it
    costs one cheap call per object, where ``object_pairs_hook`` makes the scanner build a list of
    pairs and a second dict for every object. A duplicate key is then seen as a dict holding fewer
    members than the text has colons outside strings (:func:`structure_scan`).
    """
    kept = [0]

    def count(obj: dict[str, Any]) -> dict[str, Any]:
        kept[0] += len(obj)
        return obj

    decoder = json.JSONDecoder(
        object_hook=count, parse_constant=_reject_constant, parse_float=_finite_float, strict=True
    )
    return decoder, kept


RepeatedKeys = Literal["refuse", "last"]
"""What a key written twice in one object does: ``"refuse"`` the payload (anything pushed at us), or
keep the ``"last"`` value, as ``json.loads`` and the Graph SDKs do (a Graph page we asked for)."""


def parse_json(
    data: bytes | bytearray | memoryview | str, *, limit: int, repeated_keys: RepeatedKeys = "refuse"
) -> Any:
    """Parse untrusted JSON ``data`` of at most ``limit`` bytes, or raise :class:`PayloadError`.

    Checked in order, cheapest first: size (413, before anything is decoded), UTF-8, nesting depth
    (before the recursive parser runs), then syntax, ``NaN``/``Infinity``, non-finite numbers and
    (unless ``repeated_keys="last"``) duplicate keys at any level. A leading UTF-8 BOM is tolerated
    (some Azure senders add one). Messages are one line and quote at most ~60 characters of the input.
    """
    if isinstance(data, str):
        if len(data) > limit:
            raise PayloadError(f"payload too large: more than {limit} bytes", status=413)
        try:
            raw = data.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise PayloadError(f"invalid text: unpaired surrogate at character {exc.start}") from None
    elif isinstance(data, bytes | bytearray | memoryview):
        raw = bytes(data)
    else:
        raise PayloadError(f"payload must be bytes or text, not {type(data).__name__}")
    if len(raw) > limit:
        raise PayloadError(f"payload too large: {len(raw)} bytes, limit {limit}", status=413)
    raw = without_bom(raw)
    if not raw.strip():
        raise PayloadError("empty payload")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError(f"invalid UTF-8 at byte {exc.start}") from None
    depth, leftover, members = structure_scan(raw)
    if depth > MAX_DEPTH:
        raise PayloadError(f"JSON nested deeper than {MAX_DEPTH} levels")
    if leftover > MAX_DEPTH:
        # Valid JSON leaves nothing; a long unpaired run is truncated or hostile text that could
        # make the recursive parser dive deep before failing, so it is refused here.
        raise PayloadError(f"invalid JSON: {leftover} unbalanced brackets (truncated or malformed)")
    decoder, kept = _counting_decoder()
    try:
        value = decoder.decode(text)
        if kept[0] == members or repeated_keys == "last":
            return value
        # Fewer members kept than written: a key repeated somewhere. The exact (slower) decoder
        # finds and names it.
        return _DECODER.decode(text)
    except _Hostile as exc:
        raise PayloadError(f"hostile JSON: {exc}") from None
    except json.JSONDecodeError as exc:
        problem = "truncated JSON" if exc.pos >= len(text.rstrip()) else "invalid JSON"
        raise PayloadError(f"{problem}: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise PayloadError(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # e.g. an integer with more digits than int() accepts
        raise PayloadError(f"invalid JSON: {str(exc)[:_SHOW]}") from None
