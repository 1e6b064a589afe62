"""The one lifecycle of an incident: its states, the events that move it, and its durable steps.

::

    open ──notified──► notified ──verify──► verifying ──resolve──► resolved
      └───────────────verify──────────────────┘  │  ▲ verify
                                                  └──┘
                                      verifying ──escalate──► escalated ──resolve──► resolved
                                                               ▲ verify ┘(stays escalated)

Every change of ``Incident.state`` goes through :func:`advance` (``tests/unit/incidents`` checks the
table cell by cell, and that no other module sets ``state=``); a pair missing from
:data:`TRANSITIONS` raises :class:`IllegalTransition`. The table holds exactly what the code does:

- ``notified``: the opening notice (``opened``, or ``restored`` when the app was put back) reached
  every channel. Only an ``open`` incident moves; later it is bookkeeping of the deliveries.
- ``verify``: a verification run claimed its attempt. An escalated incident stays escalated while
  runs go on (reminders stop; the resolution still comes from a run).
- ``resolve``: a run found the app healthy. The row is then archived (``closed-<id>``).
- ``escalate``: still broken past the deadline; once (the ``escalated_at`` re-check under the ETag).

**Durable steps** (:class:`Step`): each write to storage, queue or channel that the rest of the
flow relies on is named, and :func:`reached` is called right after it succeeds. Nothing listens in
production; a test (issue 19's crash harness) arms a hook with :func:`armed` to stop the worker at
any step and prove that a fresh worker converges.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.incidents.store import Incident


class State(StrEnum):
    OPEN = "open"
    NOTIFIED = "notified"
    VERIFYING = "verifying"
    RESOLVED = "resolved"
    ESCALATED = "escalated"


class Event(StrEnum):
    NOTIFIED = "notified"
    VERIFY = "verify"
    RESOLVE = "resolve"
    ESCALATE = "escalate"


INITIAL = State.OPEN
"""The state a new incident row is inserted with (insert-if-absent: the first durable step)."""

TRANSITIONS: Mapping[tuple[State, Event], State] = MappingProxyType(
    {
        (State.OPEN, Event.NOTIFIED): State.NOTIFIED,
        (State.OPEN, Event.VERIFY): State.VERIFYING,
        (State.NOTIFIED, Event.VERIFY): State.VERIFYING,
        (State.VERIFYING, Event.VERIFY): State.VERIFYING,
        (State.ESCALATED, Event.VERIFY): State.ESCALATED,
        (State.VERIFYING, Event.RESOLVE): State.RESOLVED,
        (State.ESCALATED, Event.RESOLVE): State.RESOLVED,
        (State.VERIFYING, Event.ESCALATE): State.ESCALATED,
    }
)
"""(state, event) → next state. Every pair not listed is illegal."""

FINAL = frozenset({State.RESOLVED})


class IllegalTransition(RuntimeError):
    """A state change the lifecycle does not have: a bug, never retried into success."""


def allows(state: str, event: Event) -> bool:
    """Whether ``event`` may happen to an incident in ``state`` (an unknown state allows nothing)."""
    try:
        return (State(state), event) in TRANSITIONS
    except ValueError:
        return False


def advance(state: str, event: Event) -> State:
    """The state after ``event``; :class:`IllegalTransition` for a pair not in :data:`TRANSITIONS`."""
    try:
        current = State(state)
    except ValueError:
        raise IllegalTransition(f"unknown incident state {state!r}") from None
    nxt = TRANSITIONS.get((current, event))
    if nxt is None:
        raise IllegalTransition(f"an incident in state {current} cannot {event}")
    return nxt


def moved(inc: Incident, event: Event, **changes: Any) -> Incident:
    """``inc`` after ``event`` (its next state from :data:`TRANSITIONS`), with ``changes`` applied:
    the only way an incident's state changes."""
    return replace(inc, state=advance(inc.state, event), **changes)


# --- timing rules that belong to the lifecycle --------------------------------------------------
def delay_after(delays: tuple[int, ...], runs_done: int) -> float:
    """Seconds until the next verification run after ``runs_done`` runs: ``delays[runs_done]``, and
    past the end of the list its last value again (default 1, 2, 5, 10, 15, 30 min, then every 30 min)."""
    return float(delays[min(max(runs_done, 0), len(delays) - 1)])


def lease_expired(claimed_at: datetime | None, lease: timedelta, now: datetime) -> bool:
    """A claim taken at ``claimed_at`` (``None``: unknown) belongs to a worker that died once it is
    older than ``lease``: the next worker takes it over."""
    return claimed_at is None or now - claimed_at > lease


# --- durable steps --------------------------------------------------------------------------------
class Step(StrEnum):
    """The durable steps of an incident, in the order a whole incident meets them."""

    INCIDENT_INSERTED = "incident_inserted"  # open-<app> row created (insert-if-absent)
    INCIDENT_ATTACHED = "incident_attached"  # another source attached (ETag update)
    SEVERITY_RAISED = "severity_raised"  # stronger evidence replaced the kind
    RESTORE_CLAIMED = "restore_claimed"  # this worker alone calls Graph's restore
    RESTORE_DONE = "restore_done"  # Graph answered the restore (not yet recorded)
    RESTORE_RECORDED = "restore_recorded"
    DELIVERY_CLAIMED = "delivery_claimed"  # channels claimed for one notice
    DELIVERY_SENT = "delivery_sent"  # channels answered, not yet recorded: the duplicate window
    DELIVERY_RECORDED = "delivery_recorded"
    VERIFY_ENQUEUED = "verify_enqueued"  # the verification message is on the queue
    VERIFY_NOTED = "verify_noted"  # next_verify_at written on the row
    RECORD_SEEN = "record_seen"  # the audit record is marked processed
    VERIFY_CLAIMED = "verify_claimed"  # a run claimed its attempt number
    VERDICT_NOTED = "verdict_noted"
    REASON_NOTED = "reason_noted"  # why the consent notice goes out after a restore
    REMINDER_NOTED = "reminder_noted"
    ESCALATED = "escalated"
    RESOLVED = "resolved"
    ARCHIVED = "archived"  # open-<app> moved to closed-<id>
    ACKNOWLEDGED = "acknowledged"  # an admin's Acknowledge link: reminders stop (shared.app.actions)
    CHECK_NOW_TAKEN = "check_now_taken"  # a Check now click took this incident's slot


_hooks: list[Callable[[Step], None]] = []


def reached(step: Step) -> None:
    """Called right after ``step`` is durable. A no-op unless a test armed a hook."""
    for hook in _hooks:
        hook(step)


@contextlib.contextmanager
def armed(hook: Callable[[Step], None]) -> Iterator[None]:
    """Within the block, ``hook`` sees every durable step (and may raise, or kill the worker)."""
    _hooks.append(hook)
    try:
        yield
    finally:
        _hooks.remove(hook)
