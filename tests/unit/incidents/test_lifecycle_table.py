"""The incident lifecycle's transition table, cell by cell, with literal states and events."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.incidents.lifecycle import (
    INITIAL,
    TRANSITIONS,
    Event,
    IllegalTransition,
    Step,
    advance,
    allows,
    armed,
    delay_after,
    lease_expired,
    reached,
)

STATES = ["open", "notified", "verifying", "resolved", "escalated"]
EVENTS = ["notified", "verify", "resolve", "escalate"]

LEGAL = {
    ("open", "notified"): "notified",
    ("open", "verify"): "verifying",
    ("notified", "verify"): "verifying",
    ("verifying", "verify"): "verifying",
    ("escalated", "verify"): "escalated",
    ("verifying", "resolve"): "resolved",
    ("escalated", "resolve"): "resolved",
    ("verifying", "escalate"): "escalated",
}
ILLEGAL = [(s, e) for s in STATES for e in EVENTS if (s, e) not in LEGAL]


def test_the_states_and_events_are_these_literals() -> None:
    assert sorted({s for s, _ in TRANSITIONS} | set(TRANSITIONS.values())) == sorted(STATES)
    assert sorted(str(e) for e in Event) == sorted(EVENTS)
    assert INITIAL == "open"
    assert {(str(s), str(e)): str(t) for (s, e), t in TRANSITIONS.items()} == LEGAL


@pytest.mark.parametrize(("state", "event", "after"), [(s, e, t) for (s, e), t in LEGAL.items()])
def test_every_legal_transition(state: str, event: str, after: str) -> None:
    assert allows(state, Event(event)) is True
    assert advance(state, Event(event)) == after


@pytest.mark.parametrize(("state", "event"), ILLEGAL)
def test_every_illegal_transition_is_refused(state: str, event: str) -> None:
    assert allows(state, Event(event)) is False
    with pytest.raises(IllegalTransition, match=f"an incident in state {state} cannot {event}"):
        advance(state, Event(event))


def test_there_are_twelve_illegal_pairs_and_resolved_is_final() -> None:
    assert len(ILLEGAL) == 12
    assert [e for s, e in ILLEGAL if s == "resolved"] == EVENTS


@pytest.mark.parametrize("state", ["", "OPEN", "closed", "open ", "reopened"])
def test_an_unknown_state_allows_nothing(state: str) -> None:
    for event in Event:
        assert allows(state, event) is False
        with pytest.raises(IllegalTransition, match="unknown incident state"):
            advance(state, event)


def test_delay_after_is_the_schedule_then_its_last_value() -> None:
    delays = (60, 120, 300, 600, 900, 1800)
    assert [delay_after(delays, n) for n in (-1, 0, 1, 2, 5, 6, 40)] == [
        60.0,
        60.0,
        120.0,
        300.0,
        1800.0,
        1800.0,
        1800.0,
    ]
    assert delay_after((7,), 3) == 7.0


def test_a_lease_expires_strictly_after_its_length() -> None:
    at = datetime(2026, 11, 29, 5, 0, tzinfo=UTC)
    lease = timedelta(minutes=2)
    assert lease_expired(at, lease, at + timedelta(minutes=2)) is False
    assert lease_expired(at, lease, at + timedelta(minutes=2, microseconds=1)) is True
    assert lease_expired(at, lease, at) is False
    assert lease_expired(None, lease, at) is True


def test_fault_points_see_every_step_only_while_armed() -> None:
    seen: list[str] = []
    reached(Step.DELIVERY_SENT)
    with armed(lambda step: seen.append(str(step))):
        reached(Step.INCIDENT_INSERTED)
        reached(Step.DELIVERY_SENT)
    reached(Step.ARCHIVED)
    assert seen == ["incident_inserted", "delivery_sent"]


def test_no_module_sets_an_incident_state_but_the_lifecycle() -> None:
    """``state=`` in a ``replace(...)`` anywhere in shared/ bypasses the table; a new incident is
    built with ``state=INITIAL`` only."""
    import shared

    root = Path(shared.__file__).resolve().parent  # this repository's shared/ package
    offenders = []
    for path in sorted(root.rglob("*.py")):
        if path.name == "lifecycle.py" and path.parent.name == "incidents":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            for kw in node.keywords:
                if kw.arg != "state" or name not in ("replace", "Incident"):
                    continue
                if name == "Incident" and isinstance(kw.value, ast.Name) and kw.value.id == "INITIAL":
                    continue
                offenders.append(f"{path.relative_to(root.parent)}:{node.lineno}")
    assert offenders == []
