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

Each page first takes a token from the tenant's bucket and from the app's shared
:class:`~shared.clients.rate_budget.RateBudget` instead of the single-tenant in-process pacer. A
refused take ends the tenant's audit read for this sweep; it continues next time from its cursor.
:class:`AuditGate` counts what it took and was refused (the bench reports the budget used).

What the gate remembers rides on the tenant's audit cursor row (``state-audit-poll``, written after
each page anyway), so it costs no request of its own: ``read_at`` (when the log was last read: the
cadence) and the tenant's bucket (``tenant_tokens``, ``tenant_tokens_at``; only this tenant's sweep
takes from it, under its lease — a :class:`~shared.clients.rate_budget.HeldBucket`). A page read
whose processing failed leaves both as they were: the next sweep reads again (the tenant's bucket,
5 per 10 s, is full again by then — sweeps of one tenant are at least the queue's visibility
timeout apart). Rows of older versions: a cursor row without ``read_at`` falls back to the
``state-audit-cadence`` row they kept (``at``), and their ``audit:tenant:{id}`` budget rows are no
longer read (a tenant's bucket starts full).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.core.clock import clock, format_timestamp, parse_timestamp

if TYPE_CHECKING:
    from shared.clients.checkpoints import Checkpoints
    from shared.clients.rate_budget import HeldBucket, RateBudget

DEFAULT_CADENCE_MINUTES = 10
CADENCE_STATE = "audit-cadence"
"""State row (tenant partition) in which older versions kept when the audit log was last read
(``at``); read only when the audit cursor row has no ``read_at`` yet."""
READ_AT = "read_at"
TENANT_TOKENS, TENANT_TOKENS_AT = "tenant_tokens", "tenant_tokens_at"


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
    """One tenant's audit reads in provider mode: its bucket, the app's shared budget and the
    cadence; counters."""

    budget: RateBudget
    tenant_id: str
    cadence: timedelta
    taken: int = 0
    refused: int = 0
    bucket: HeldBucket | None = None
    """The tenant's bucket, as its cursor row holds it (:meth:`resume`)."""
    read_at: str = ""
    """When this sweep read the audit log (:meth:`note_read`)."""

    async def due(self, checkpoints: Checkpoints, cursor: dict[str, Any], *, changed: bool) -> bool:
        """Read the audit log in this sweep? ``cursor``: the audit cursor row's values (a round is
        open while it holds a next link)."""
        if changed or cursor.get("next"):
            return True
        last = parse_timestamp(cursor.get(READ_AT))
        if last is None:  # a row of an older version: the cadence row it kept
            last = parse_timestamp((await checkpoints.get_state(CADENCE_STATE)).values.get("at"))
        return cadence_due(self.tenant_id, self.cadence, last, clock.now())

    def resume(self, cursor: dict[str, Any]) -> HeldBucket:
        """The tenant's bucket as its cursor row holds it (absent: full)."""
        from shared.clients.rate_budget import AUDIT_PER_TENANT, HeldBucket

        tokens, at = cursor.get(TENANT_TOKENS), cursor.get(TENANT_TOKENS_AT)
        self.bucket = HeldBucket.load(AUDIT_PER_TENANT, tokens, at, self.budget.now())
        return self.bucket

    async def take(self) -> bool:
        """A token from the tenant's bucket and the app's, or none (``False``: stop reading)."""
        from shared.clients.rate_budget import APP_SCOPE, AUDIT_PER_APP

        bucket = self.bucket if self.bucket is not None else self.resume({})
        if bucket.take(self.budget.now()) > 0:
            self.refused += 1
            return False
        if await self.budget.take(APP_SCOPE, AUDIT_PER_APP) > 0:
            bucket.give_back()
            self.refused += 1
            return False
        self.taken += 1
        return True

    def note_read(self) -> None:
        """The audit log was read in this sweep: the cadence counts from now (saved with the cursor)."""
        self.read_at = format_timestamp(clock.now())

    def fields(self) -> dict[str, Any]:
        """What the audit cursor row carries for the gate (:meth:`due`, :meth:`resume`)."""
        out: dict[str, Any] = {READ_AT: self.read_at} if self.read_at else {}
        if self.bucket is not None:
            out[TENANT_TOKENS], out[TENANT_TOKENS_AT] = self.bucket.values()
        return out
