"""What a notice's signed links do: "Acknowledge" and "Check now" (issue 18).

Both receive the claims of a token already verified by :mod:`shared.core.action_links` — nothing
else from the request — and the small :class:`ActionDeps` of what they use: the incident rows and
the verification entry point, as Protocols, so a change to either adapts the one adapter that the
HTTP function builds (functions/actions.py).

- **acknowledge** stops the reminders of one incident (not its escalation), once: a second click
  changes nothing. It is written to the incident's history.
- **check_now** runs a verification at once, through the same entry point the queue uses (so a
  fixed outage sends its resolved notice through the normal delivery path before this returns),
  rate-limited per incident by a timestamp on the incident row (ETag-checked, so two clicks at the
  same moment run one check).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from shared.core.clock import clock, format_timestamp
from shared.incidents.claims import Rows

if TYPE_CHECKING:
    from shared.core.action_links import LinkClaims
    from shared.incidents.store import Incident

log = logging.getLogger(__name__)

CHECK_NOW_INTERVAL = timedelta(seconds=30)
"""At most one "Check now" per incident in this long (Graph's audit and directory calls are throttled)."""


class IncidentRows(Rows, Protocol):
    """The incident store as these use cases need it (shared.incidents.store.IncidentStore): the
    claim helper's ``mutate``, and the two reads."""

    async def get_open(self, tenant_id: str, app_key: str) -> Incident | None: ...

    async def get_closed(self, tenant_id: str, incident_id: str) -> Incident | None: ...


class RunVerification(Protocol):
    """One verification run of an incident at attempt ``attempt``; returns the outcome's name
    (``resolved``, ``rescheduled``, ``escalated``, ``stale``, ``no_incident``) and the verdicts."""

    async def __call__(
        self, tenant_id: str, app_key: str, incident_id: str, attempt: int
    ) -> tuple[str, tuple[tuple[str, str], ...]]: ...


@dataclass(frozen=True, slots=True)
class ActionDeps:
    rows: IncidentRows
    verify: RunVerification
    check_now_interval: timedelta = CHECK_NOW_INTERVAL


@dataclass(frozen=True, slots=True)
class ActionResult:
    """``outcome``: acknowledged | already_acknowledged | resolved | still_broken | rate_limited |
    busy | already_resolved | not_found."""

    outcome: str
    incident: Incident | None = None
    verdicts: tuple[tuple[str, str], ...] = ()
    retry_in: float | None = None

    @property
    def changed(self) -> bool:
        return self.outcome in ("acknowledged", "resolved", "still_broken")


def _event(at: datetime, what: str) -> tuple[str, str]:
    return (format_timestamp(at), what)


async def _closed_or_missing(deps: ActionDeps, claims: LinkClaims) -> ActionResult:
    closed = await deps.rows.get_closed(claims.tenant_id, claims.incident_id)
    return ActionResult("already_resolved", closed) if closed is not None else ActionResult("not_found")


async def acknowledge(deps: ActionDeps, claims: LinkClaims) -> ActionResult:
    """Stop the reminders of the incident ``claims`` names; idempotent. Every line logged meanwhile
    carries the incident's tenant, id and app (shared.core.logcontext)."""
    from shared.core.logcontext import bind

    with bind(tenant_id=claims.tenant_id, incident_id=claims.incident_id, app=claims.app_key):
        return await _acknowledge(deps, claims)


async def _acknowledge(deps: ActionDeps, claims: LinkClaims) -> ActionResult:
    from shared.incidents.claims import claim_row
    from shared.incidents.lifecycle import Step

    now = clock.now()

    def ack(c: Incident) -> tuple[Incident, bool] | None:
        if c.incident_id != claims.incident_id or c.acknowledged_at is not None:
            return None
        return replace(c, acknowledged_at=now, history=(*c.history, _event(now, "acknowledged"))), True

    got = await claim_row(deps.rows, claims.tenant_id, claims.app_key, ack, step=Step.ACKNOWLEDGED)
    current = got.incident
    if current is None or current.incident_id != claims.incident_id:
        return await _closed_or_missing(deps, claims)
    if not got.won:
        return ActionResult("already_acknowledged", current)
    log.info(
        "incident %s acknowledged from a notice link", claims.incident_id, extra={"event": "incident_acknowledged"}
    )
    return ActionResult("acknowledged", current)


async def check_now(deps: ActionDeps, claims: LinkClaims) -> ActionResult:
    """Verify the incident now (at most once per :attr:`ActionDeps.check_now_interval`); every line
    logged meanwhile carries the incident's fields."""
    from shared.core.logcontext import bind

    with bind(tenant_id=claims.tenant_id, incident_id=claims.incident_id, app=claims.app_key):
        return await _check_now(deps, claims)


async def _check_now(deps: ActionDeps, claims: LinkClaims) -> ActionResult:
    from shared.incidents.claims import claim_row
    from shared.incidents.lifecycle import Step

    now = clock.now()

    def take_slot(c: Incident) -> tuple[Incident, bool] | None:
        if c.incident_id != claims.incident_id:
            return None
        if c.check_now_at is not None and now - c.check_now_at < deps.check_now_interval:
            return None
        return replace(c, check_now_at=now, history=(*c.history, _event(now, "check_now"))), True

    got = await claim_row(deps.rows, claims.tenant_id, claims.app_key, take_slot, step=Step.CHECK_NOW_TAKEN)
    current = got.incident
    if current is None or current.incident_id != claims.incident_id:
        return await _closed_or_missing(deps, claims)
    if not got.won:
        last = current.check_now_at or now
        return ActionResult(
            "rate_limited", current, retry_in=round((last + deps.check_now_interval - now).total_seconds(), 1)
        )
    log.info("incident %s: Check now clicked", claims.incident_id, extra={"event": "check_now"})
    outcome, verdicts = await deps.verify(claims.tenant_id, claims.app_key, claims.incident_id, current.verify_attempts)
    if outcome == "resolved":
        closed = await deps.rows.get_closed(claims.tenant_id, claims.incident_id)
        return ActionResult("resolved", closed or current, verdicts)
    after = await deps.rows.get_open(claims.tenant_id, claims.app_key)
    if outcome == "stale":  # a queued run holds this attempt right now: its result is the answer
        return ActionResult("busy", after or current, verdicts)
    if outcome == "no_incident":
        return await _closed_or_missing(deps, claims)
    return ActionResult("still_broken", after or current, verdicts)
