"""When a customer tenant's audit log is read, and from which budget (provider mode, issue 17 point 5).

Graph's identity and access reports allow 5 requests per 10 s per app per tenant and 122 per 10 s
per app across *all* tenants (learn.microsoft.com/graph/throttling-limits): about 730 audit reads a
minute for the provider's one app, however many instances run it. So in provider mode a tenant's
sweep reads its audit log only

- when this sweep found a change (a delta removal, a finding that opened or joined an incident, an
  open incident that does not know who did it yet) — the notice then carries the actor; or
- when the tenant's **budgeted cadence** is due (``AUDIT_CADENCE``, minutes, default
  :data:`DEFAULT_CADENCE_MINUTES`): tenants are staggered over the cadence by a hash of their id, so
  1,000 tenants at 10 minutes make ~100 routine reads a minute, 14 % of the app's budget; or
- when a round that a budget refusal or the page limit interrupted is still open (its next link).

Each page first takes a token from the shared :class:`~shared.clients.rate_budget.RateBudget` —
the tenant's bucket and the app's — instead of the single-tenant in-process pacer. A refused take
ends the tenant's audit read for this sweep; it continues next time from its cursor.
:class:`AuditGate` counts what it took and was refused (the bench reports the budget used).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from shared.core.clock import clock, format_timestamp, parse_timestamp

if TYPE_CHECKING:
    from shared.clients.checkpoints import Checkpoints
    from shared.clients.rate_budget import RateBudget

DEFAULT_CADENCE_MINUTES = 10
CADENCE_STATE = "audit-cadence"
"""State row (tenant partition): when the tenant's audit log was last read."""


def stagger(tenant_id: str, period: float) -> float:
    """The tenant's offset in ``period`` seconds: spreads routine reads evenly over the cadence."""
    digest = hashlib.sha256(tenant_id.lower().encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % max(int(period), 1)


def cadence_due(tenant_id: str, cadence: timedelta, last: datetime | None, now: datetime) -> bool:
    """Whether the tenant's staggered cadence slot passed since ``last`` (never read: due)."""
    if last is None:
        return True
    period = max(cadence.total_seconds(), 1.0)
    offset = stagger(tenant_id, period)
    return math.floor((now.timestamp() - offset) / period) > math.floor((last.timestamp() - offset) / period)


@dataclass(slots=True)
class AuditGate:
    """One tenant's audit reads in provider mode: the shared budget and the cadence; counters."""

    budget: RateBudget
    tenant_id: str
    cadence: timedelta
    taken: int = 0
    refused: int = 0

    async def due(self, checkpoints: Checkpoints, *, changed: bool, round_open: bool) -> bool:
        """Read the audit log in this sweep?"""
        if changed or round_open:
            return True
        state = await checkpoints.get_state(CADENCE_STATE)
        return cadence_due(self.tenant_id, self.cadence, parse_timestamp(state.values.get("at")), clock.now())

    async def take(self) -> bool:
        """A token from the tenant's bucket and the app's, or none (``False``: stop reading)."""
        from shared.clients.rate_budget import audit_takes

        if await self.budget.take_all(audit_takes(self.tenant_id)) > 0:
            self.refused += 1
            return False
        self.taken += 1
        return True

    async def note_read(self, checkpoints: Checkpoints) -> None:
        """The audit log was read in this sweep: the cadence counts from now."""
        state = await checkpoints.get_state(CADENCE_STATE)
        await checkpoints.put_state(CADENCE_STATE, {"at": format_timestamp(clock.now())}, state.etag)
