"""Small helpers every normalizer shares: case-insensitive lookup, string caps, value decoding.

They are plain functions on plain dicts because normalization runs at 100k records/s: no per-record
validation models, no deep copies. Everything here tolerates wrong types (a number where a string
was expected, a list where an object was) by returning ``None`` rather than raising — a malformed
field must cost the field, not the payload.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.core.clock import parse_timestamp
from shared.core.errors import PayloadError
from shared.detect.payload import parse_json

NAME_CAP = 1024
"""Longest id, name or label kept. Entra's own limits are far below; longer text is hostile."""

VALUE_CAP = 8192
"""Longest modified-property value decoded; longer values are kept truncated and undecoded."""

MAX_RECORDS = 10_000
"""Most audit records (or list items) one payload may carry. Event Grid batches cap at 5,000
events/1 MB and Graph pages at 999 records, so more is not a real delivery."""

MAX_TARGETS = 50
MAX_PROPERTIES = 200
MAX_DETAILS = 100
MAX_NESTING = 4
"""How many envelopes deep (Event Grid → CloudEvent data_base64 → …) a payload may wrap records."""

_MISSING = object()
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_SHOW = 60


class TooManyRecords(PayloadError):
    """Raised when a payload exceeds :data:`MAX_RECORDS`; never turned into a skip note."""

    def __init__(self) -> None:
        super().__init__(f"payload holds more than {MAX_RECORDS} records", status=413)


@dataclass(slots=True)
class Context:
    """Per-payload bookkeeping: the record budget and the reasons parts were skipped."""

    count: int = 0
    skipped: list[str] = field(default_factory=list)

    def take(self, n: int = 1) -> None:
        """Spend ``n`` of the record budget (records, rows, events, list items)."""
        self.count += n
        if self.count > MAX_RECORDS:
            raise TooManyRecords

    def skip(self, where: str, why: str) -> None:
        self.skipped.append(f"{where}: {why}" if where else why)


def short(value: object) -> str:
    """A quotable, one-line, at most ~60-character rendering of untrusted text for notes/logs."""
    text = value if isinstance(value, str) else type(value).__name__
    if len(text) > _SHOW:
        text = text[:_SHOW] + "…"
    return repr(text)


def lower_keys(obj: dict[Any, Any]) -> dict[str, Any]:
    """``obj`` with lower-cased keys, built once per object so every lookup after it is one probe.

    Payload casing varies by source (Graph camelCase, Log Analytics PascalCase, ``"Type"`` in the
    Graph docs' own example); matching on lower-cased keys makes all of them one code path.
    """
    try:
        return {k.lower(): v for k, v in obj.items()}
    except AttributeError:  # a non-string key: only from Python callers, never from JSON
        return {k.lower(): v for k, v in obj.items() if isinstance(k, str)}


def get(obj: dict[Any, Any], key: str) -> Any:
    """``obj[key]`` matched case-insensitively (exact spelling first); ``None`` when absent.

    Cheaper than :func:`lower_keys` for small objects read once or twice.
    """
    value = obj.get(key, _MISSING)
    if value is not _MISSING:
        return value
    wanted = key.lower()
    for k, v in obj.items():
        if isinstance(k, str) and k.lower() == wanted:
            return v
    return None


_KEY_MAPS: dict[tuple[Any, ...], dict[str, Any]] = {}
_KEY_MAPS_MAX = 512
_KEY_MAP_KEYS = 64


def key_map(obj: dict[Any, Any]) -> dict[str, Any]:
    """``{lower-cased key: key as spelled}`` for ``obj`` (first spelling wins, as in :func:`get`).

    Cached by the tuple of keys: records from one source share their keys, so building the tuple
    and one probe replace a case-insensitive scan per missing field. Bounded: cleared when full.
    """
    if len(obj) > _KEY_MAP_KEYS:  # not a record shape worth remembering (or hostile): no cache
        return {k.lower(): k for k in reversed(obj) if isinstance(k, str)}
    keys = tuple(obj)
    found = _KEY_MAPS.get(keys)
    if found is None:
        found = {}
        for k in keys:
            if isinstance(k, str):
                found.setdefault(k.lower(), k)
        if len(_KEY_MAPS) >= _KEY_MAPS_MAX:
            _KEY_MAPS.clear()
        _KEY_MAPS[keys] = found
    return found


def text(value: Any, cap: int = NAME_CAP) -> str | None:
    """A string field, capped; numbers are accepted as their text; anything else is ``None``."""
    if type(value) is str:
        return value if len(value) <= cap else value[:cap]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def as_dict(value: Any) -> dict[Any, Any] | None:
    """An object field that may arrive as an object or (Log Analytics dynamic column) JSON text."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        decoded = loads_nested(value)
        return decoded if isinstance(decoded, dict) else None
    return None


def as_list(value: Any) -> list[Any] | None:
    """An array field that may arrive as an array or as JSON text; ``None`` when neither."""
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        decoded = loads_nested(value)
        return decoded if isinstance(decoded, list) else None
    return None


def loads_nested(value: str) -> Any:
    """JSON text found inside an already-parsed payload, parsed with the same hostile-input rules;
    ``None`` when it is not JSON (so the caller reports the field as unreadable)."""
    stripped = value.strip()
    if not stripped or stripped[0] not in "[{":
        return None
    try:
        return parse_json(stripped, limit=len(stripped) * 4 + 16)
    except PayloadError:
        return None


def _reject(_: str) -> Any:
    raise ValueError("not JSON")


# The decoder's C scanner reads one value at an index: no whitespace regex, no Python frames.
_VALUE_SCAN: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder(parse_constant=_reject, strict=True).scan_once  # type: ignore[attr-defined]
_CACHE_MAX = 4096
_CACHE_KEY_MAX = 128
# Entra repeats a few values in nearly every record; a dict probe is ~10x cheaper than re-parsing.
# Mutable results are never shared between records: lists come from fresh literals below, and only
# immutable results (text, from double-encoded values) are cached.
_LITERALS: dict[str, Any] = {"[]": None, "[true]": True, "[false]": False, "[True]": True, "[False]": False}
_decoded: dict[str, Any] = {}


def _scan(text: str) -> Any:
    """One JSON value spanning all of ``text`` (already stripped), or ``_MISSING``."""
    try:
        value, end = _VALUE_SCAN(text, 0)
    except (ValueError, RecursionError, StopIteration):
        return _MISSING
    return value if end == len(text) else _MISSING


def decode_value(value: Any) -> Any:
    """Decode a ``modifiedProperties`` old/new value: Entra sends JSON text (``"[true]"``,
    ``"[\\"guid\\"]"``, ``"[]"``), sometimes double-encoded (``"\\"AccountEnabled\\""``).

    Non-JSON text is kept as the string (truncated at :data:`VALUE_CAP`), ``null`` stays ``None``,
    and values that already arrived decoded (some exports) are kept as they are.
    """
    if type(value) is not str:
        return value
    literal = _LITERALS.get(value, _MISSING)
    if literal is not _MISSING:
        return [] if literal is None else [literal]
    cached = _decoded.get(value)
    if cached is not None:
        return cached
    if len(value) > VALUE_CAP:
        return value[:VALUE_CAP]
    decoded: Any = value
    for _ in range(2):  # at most double-encoded
        stripped = decoded.strip()
        if not stripped or stripped[0] not in '[{"':
            break
        found = _scan(stripped)
        if found is _MISSING:
            break
        decoded = found
        if type(decoded) is not str:
            break
    if type(decoded) is str and len(value) <= _CACHE_KEY_MAX:
        if len(_decoded) >= _CACHE_MAX:
            _decoded.clear()
        _decoded[value] = decoded
    return decoded


def _iso_shape(value: str) -> bool:
    """``YYYY-MM-DDTHH:MM:SS[.digits]`` then ``Z`` or ``±HH:MM``, checked by position: the only text
    the fast path hands to ``fromisoformat``. 3.11's reads more than ``parse_timestamp`` does — week
    dates (``2024-W18-3T…``) and anything after six fraction digits (``12.123456z7+05:30``) — so
    those shapes are kept out, and the two paths agree on every input (tests/unit/detect)."""
    size = len(value)
    if not (
        20 <= size <= 40
        and value[4] == "-"
        and value[7] == "-"
        and value[10] == "T"
        and value[13] == ":"
        and value[16] == ":"
    ):
        return False
    if value[-1] == "Z":
        zone = size - 1
    elif value[-6] in "+-" and value[-3] == ":":
        zone = size - 6
    else:
        return False
    return zone == 19 or (value[19] == "." and value[20:zone].isascii() and value[20:zone].isdigit())


def timestamp(value: Any) -> datetime | None:
    """:func:`shared.core.clock.parse_timestamp`, with a C fast path for the common ISO shape.

    ``datetime.fromisoformat`` (3.11) reads ``2024-05-01T10:11:12.1234567+00:00`` and ``…Z`` in
    well under a microsecond, 20x faster than the regex; it is only tried on text that already
    looks like ``YYYY-MM-DDTHH:MM:SS`` with a ``Z``/``±HH:MM`` zone, where both agree (a test checks),
    and everything else (legacy ``3/22/2019 1:36:31 PM``, no zone, oddities) goes to the regex.
    """
    if type(value) is str and _iso_shape(value):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return parse_timestamp(value)
        return parsed if parsed.tzinfo is UTC else parsed.astimezone(UTC)
    if isinstance(value, datetime):  # rows built in-process (SDK cells) may already be datetimes
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return parse_timestamp(value)


def first_guid(value: Any) -> str | None:
    """The first GUID inside a decoded value (a string, or a list of strings), lower-cased."""
    if isinstance(value, str):
        m = _GUID.search(value[:VALUE_CAP])
        return m.group(0).lower() if m else None
    if isinstance(value, list):
        for item in value[:MAX_PROPERTIES]:
            if isinstance(item, str):
                m = _GUID.search(item[:VALUE_CAP])
                if m:
                    return m.group(0).lower()
    return None
