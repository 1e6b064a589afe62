"""The shortcuts that make classification fast change nothing a reader can see.

- A record whose activity no rule reads is a :class:`DeferredRecord`: its fields past id and
  activity are normalized on first read, and must then equal what eager normalization gives.
- Duplicate keys are found by comparing the members the decoder kept with the colons outside
  strings; that count must be exact for any JSON text, so a repeated key anywhere is still refused
  and no valid text is refused.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.core.catalogue import Catalogue
from shared.core.errors import PayloadError
from shared.core.models import AuditRecord, Kind
from shared.detect.classify import RULE_ACTIVITIES, classify
from shared.detect.normalize import extract
from shared.detect.normalize.deferred import DEFERRED_FIELDS, DeferredRecord
from shared.detect.payload import parse_json, structure_scan

FIXTURES = Path(__file__).parent / "fixtures" / "payloads"


def _records() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in sorted(FIXTURES.glob("graph_*.json")):
        data = json.loads(path.read_text())
        out.extend(data["value"] if isinstance(data, dict) and "value" in data else [data])
    return [r for r in out if isinstance(r, dict) and "activityDisplayName" in r]


@pytest.mark.parametrize("raw", _records(), ids=lambda r: str(r.get("activityDisplayName")))
def test_deferred_record_equals_eager_normalization(raw: dict[str, Any]) -> None:
    deferred = extract({**raw, "activityDisplayName": "Update user"}).records[0]
    eager = extract({**raw, "activityDisplayName": "Update service principal"}).records[0]
    assert isinstance(deferred, DeferredRecord)
    assert type(eager) is AuditRecord
    for name in DEFERRED_FIELDS:
        assert getattr(deferred, name) == getattr(eager, name), name
    assert dataclasses.replace(deferred, activity="Update service principal") == dataclasses.replace(eager)
    assert classify(deferred, Catalogue()).kind is Kind.UNRELATED


def test_deferred_record_is_immutable_and_fills_once() -> None:
    raw = _records()[0]
    record = extract({**raw, "activityDisplayName": "Add member to group"}).records[0]
    assert isinstance(record, DeferredRecord)
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.targets = ()  # type: ignore[misc]
    first = record.targets
    assert record.targets is first
    assert "targets=" in repr(record)


def test_rule_activities_are_never_deferred() -> None:
    raw = _records()[0]
    for activity in sorted(RULE_ACTIVITIES):
        record = extract({**raw, "activityDisplayName": activity.upper()}).records[0]
        assert type(record) is AuditRecord, activity


_leaf = st.none() | st.booleans() | st.integers() | st.text(alphabet=':"\\{}[] ab\n\u00e9', max_size=6)
_key = st.text(alphabet=':"\\{}[] ab\u00e9', max_size=4)
_tree = st.recursive(
    _leaf, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(_key, kids, max_size=4), max_leaves=30
)


def _members(value: Any) -> int:
    if isinstance(value, dict):
        return len(value) + sum(_members(v) for v in value.values())
    if isinstance(value, list):
        return sum(_members(v) for v in value)
    return 0


@settings(max_examples=300, deadline=None)
@given(_tree, st.booleans())
def test_member_count_is_exact(tree: Any, compact: bool) -> None:
    text = json.dumps(tree, separators=(",", ":") if compact else None, ensure_ascii=False)
    assert structure_scan(text.encode())[2] == _members(tree)
    assert parse_json(text, limit=10**6) == tree


@settings(max_examples=200, deadline=None)
@given(_tree, _key, st.integers(min_value=0, max_value=50))
def test_a_repeated_key_anywhere_is_refused(tree: Any, key: str, where: int) -> None:
    text = json.dumps(tree, ensure_ascii=False)
    objects = [i for i, ch in enumerate(text) if ch == "{" and _outside_string(text, i)]
    if not objects:
        text = "{" + json.dumps(key) + ": 1, " + json.dumps(key) + ": " + json.dumps(tree) + "}"
    else:
        at = objects[where % len(objects)] + 1
        pair = json.dumps(key) + ": 1, " + json.dumps(key) + ": 2"
        rest = text[at:].lstrip()
        text = text[:at] + pair + ("" if rest.startswith("}") else ", ") + text[at:]
    with pytest.raises(PayloadError, match="duplicate key"):
        parse_json(text, limit=10**6)


def _outside_string(text: str, index: int) -> bool:
    inside = escaped = False
    for ch in text[:index]:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = inside
        elif ch == '"':
            inside = not inside
    return not inside
