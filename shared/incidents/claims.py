"""The one claim helper: decide on the incident row, under its ETag, who does a piece of work.

Things claimed on an incident row: a verification attempt (``verify_attempts``), the auto-restore
(``restore_outcome="claimed"``), each channel's delivery of a notice (``deliveries[channel/notice] =
claimed``), and the notice links' acknowledgement and Check now slot (shared.app.actions). Each
is the same move: read the row, ask a pure ``take`` function whether this worker gets the work
(and what it got), write the claim with an ETag-checked replace, and on a 412 re-read and ask
again — so of two racing workers exactly one wins, and the loser sees the winner's claim. A claim
that must not block forever carries its time and is taken over once
:func:`shared.incidents.lifecycle.lease_expired`.

:func:`claim` reports the step it made durable (:func:`shared.incidents.lifecycle.reached`) only when
this worker won, so a fault injected at a step stops exactly the worker that holds it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from shared.incidents.lifecycle import Step, reached

if TYPE_CHECKING:
    from shared.incidents.store import Incident


class Rows(Protocol):
    """The one store operation a claim needs (shared.incidents.store.IncidentStore has it)."""

    async def mutate(
        self,
        tenant_id: str,
        app_key: str,
        change: Callable[[Incident], Incident | None],
        *,
        known: Incident | None = None,
    ) -> Incident | None: ...


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Claim(Generic[T]):
    """The row as stored after the attempt (``None``: no open incident any more) and what this
    worker won (``None``: it lost, or there was nothing to take)."""

    incident: Incident | None
    prize: T | None

    @property
    def won(self) -> bool:
        return self.prize is not None


async def claim(
    store: Rows,
    inc: Incident,
    take: Callable[[Incident], tuple[Incident, T] | None],
    *,
    step: Step,
    known: bool = False,
) -> Claim[T]:
    """Apply ``take`` to ``inc``'s open row until the write sticks. ``take`` is pure: given the
    current row it returns the claimed row and the prize, or ``None`` when this worker gets
    nothing. ``known=True`` trusts ``inc`` as the latest copy for the first try (saves a read; the
    ETag still refuses a stale copy). Only the call ``mutate`` made last counts."""
    return await claim_row(store, inc.tenant_id, inc.app_key, take, step=step, known=inc if known else None)


async def claim_row(
    store: Rows,
    tenant_id: str,
    app_key: str,
    take: Callable[[Incident], tuple[Incident, T] | None],
    *,
    step: Step,
    known: Incident | None = None,
) -> Claim[T]:
    """:func:`claim` by the row's keys, for a caller that holds no copy of the row (a link's claims)."""
    prize: T | None = None

    def change(current: Incident) -> Incident | None:
        nonlocal prize
        got = take(current)
        prize = None if got is None else got[1]
        return None if got is None else got[0]

    stored = await store.mutate(tenant_id, app_key, change, known=known)
    if stored is None:
        return Claim(None, None)
    if prize is not None:
        reached(step)
    return Claim(stored, prize)


async def write(
    store: Rows,
    inc: Incident,
    change: Callable[[Incident], Incident | None],
    *,
    step: Step,
    known: bool = False,
) -> Incident:
    """An ETag-checked update of ``inc``'s own row that no one competes for (a note, a verdict):
    ``change`` returns ``None`` for "nothing to do", and is skipped on another incident's row.
    Returns the row as stored, or ``inc`` when the incident is gone."""

    def take(current: Incident) -> tuple[Incident, bool] | None:
        if current.incident_id != inc.incident_id:
            return None
        changed = change(current)
        return None if changed is None else (changed, True)

    got = await claim(store, inc, take, step=step, known=known)
    return got.incident or inc
