"""How strict the simulated Graph is, beyond the shapes: limits, delays and partial outcomes that
the real service has and that a kind simulator would hide (issue 14).

Each behaviour names its source beside the field; ``/_sim/graph/behaviour`` changes any of them for a
test, ``/_sim/reset`` restores these defaults (the documented limits ON, no delay, no odd paging).
What cannot be known from the documentation (how late a record is, whether a restore brings the
grants back, how long replication lags) is a setting, and the tests run the app both ways.
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

DELTA_TOKEN_LIFETIME = 7 * 24 * 3600.0
"""Delta links of directory objects live 7 days (Microsoft 365 Dev Blog, "Duration of change tracking
tokens for identity and education resources", 2020-07-03; delta-query-overview "Token duration")."""

AUDIT_RATE_LIMIT = 5
AUDIT_APP_RATE_LIMIT = 122
AUDIT_RATE_WINDOW = 10.0
"""Identity and access reports (``auditLogRoot``): 5 requests per 10 seconds per app per tenant, and
122 requests per 10 seconds per app across all tenants
(learn.microsoft.com/graph/throttling-limits#identity-and-access-reports-service-limits)."""

LATENCY_P95 = 120.0
LATENCY_P99 = 300.0
LATENCY_MAX = 900.0
"""How late a record reaches ``directoryAudits``: about 2 min at P95 and 5 min at P99 for the audit
log (learn.microsoft.com/entra/identity/monitoring-health/reference-reports-latencies), up to 15 min
in field reports (issue 14). The ``"field"`` distribution below is a log-normal fitted to the two
percentiles, capped at the maximum."""


class BehaviourError(ValueError):
    """A behaviour setting of the wrong type or range."""


@dataclass(slots=True)
class GraphBehaviour:
    """The settings, all changeable through ``/_sim/graph/behaviour``."""

    delta_token_lifetime: float = DELTA_TOKEN_LIFETIME
    delta_expiry: str = "400"
    """How an expired delta link is answered: ``"400"`` (``syncStateNotFound``, what the Dev Blog
    post quotes for identity resources) or ``"410"`` (``410 Gone`` with a ``Location`` holding the
    initial query: delta-query-overview, "Synchronization reset")."""
    audit_rate_limit: int = AUDIT_RATE_LIMIT
    """Requests per window on ``auditLogs/*`` per app per tenant; 0 turns the limit off."""
    audit_app_rate_limit: int = AUDIT_APP_RATE_LIMIT
    """Requests per window on ``auditLogs/*`` per app across all tenants; 0 turns the limit off."""
    audit_rate_window: float = AUDIT_RATE_WINDOW
    call_latency_seconds: float = 0.0
    """Real (wall-clock) delay before every Graph answer, e.g. 0.1 for the bench's 100 ms round trip;
    0 in tests, which never wait."""
    audit_delay: str = "none"
    """How late each new audit record becomes visible to ``directoryAudits``: ``"none"``,
    ``"fixed"`` (:attr:`audit_delay_seconds`) or ``"field"`` (the distribution above)."""
    audit_delay_seconds: float = 0.0
    audit_page_sizes: list[int] = field(default_factory=list)
    """Sizes of successive ``directoryAudits`` pages, repeated (``[0, 0, 1]``: two EMPTY pages with a
    ``@odata.nextLink``, then one record…); empty: pages of ``$top``. Real reporting APIs return
    short and empty pages with a next link (learn.microsoft.com/graph/paging: follow
    ``@odata.nextLink`` until it is absent, whatever a page holds)."""
    restore_grants: bool = True
    restore_app_roles: bool = True
    """Whether ``POST directory/deletedItems/{id}/restore`` brings back the delegated grants and the
    app role assignments: Microsoft documents only that a restored object keeps its previous
    configuration except Conditional Access policies (directory-deleteditems-restore), not these."""
    restore_lag_seconds: float = 0.0
    """Replication lag: how long a restored service principal stays invisible to GET (reads are
    served by replicas; Graph documents eventual consistency for directory objects,
    aad-advanced-queries). Unknown in size, so a setting."""

    def update(self, data: dict[str, Any]) -> None:
        known = {f.name: f for f in fields(self)}
        unknown = set(data) - set(known)
        if unknown:
            raise BehaviourError(f"unknown behaviour(s): {', '.join(sorted(unknown))}")
        for name, value in data.items():
            setattr(self, name, _checked(name, value, getattr(self, name)))

    def describe(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def page_size(self, index: int, top: int) -> int:
        """The size of the ``index``-th ``directoryAudits`` page of a listing."""
        if not self.audit_page_sizes:
            return top
        return min(top, self.audit_page_sizes[index % len(self.audit_page_sizes)])

    def delay(self, rng: random.Random) -> float:
        """Seconds until a new audit record is visible in ``directoryAudits``."""
        if self.audit_delay == "fixed":
            return self.audit_delay_seconds
        if self.audit_delay == "field":
            # log-normal with P95 = 2 min and P99 = 5 min: z(0.95) = 1.645, z(0.99) = 2.326
            sigma = (math.log(LATENCY_P99) - math.log(LATENCY_P95)) / (2.326 - 1.645)
            mu = math.log(LATENCY_P95) - 1.645 * sigma
            return min(rng.lognormvariate(mu, sigma), LATENCY_MAX)
        return 0.0


def _checked(name: str, value: Any, current: Any) -> Any:
    if name == "delta_expiry":
        if value not in ("400", "410"):
            raise BehaviourError("delta_expiry must be '400' or '410'")
        return value
    if name == "audit_delay":
        if value not in ("none", "fixed", "field"):
            raise BehaviourError("audit_delay must be 'none', 'fixed' or 'field'")
        return value
    if name == "audit_page_sizes":
        if not isinstance(value, list) or len(value) > 1000 or not all(_count(v) for v in value):
            raise BehaviourError("audit_page_sizes must be a list of at most 1000 counts (0 or more)")
        if value and not any(value):
            raise BehaviourError("audit_page_sizes must hold at least one non-zero size")
        return list(value)
    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise BehaviourError(f"{name} must be a boolean")
        return value
    if isinstance(current, int):
        if not _count(value):
            raise BehaviourError(f"{name} must be a count (0 or more)")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise BehaviourError(f"{name} must be a number of seconds (0 or more)")
    return float(value)


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 1_000_000


@dataclass(slots=True)
class RateWindow:
    """A sliding window of request times (simulator clock) for one app in one tenant."""

    times: deque[datetime] = field(default_factory=deque)

    def admit(self, now: datetime, limit: int, window: float) -> float | None:
        """Count a request; ``None`` when admitted, else the seconds until one is (``Retry-After``).
        Refused requests are not counted."""
        wait = self.wait(now, limit, window)
        if wait is None and limit > 0:
            self.times.append(now)
        return wait

    def wait(self, now: datetime, limit: int, window: float) -> float | None:
        """``None`` when a request would be admitted now (not counted), else the seconds until one is."""
        if limit <= 0:
            return None
        start = now - timedelta(seconds=window)
        while self.times and self.times[0] <= start:
            self.times.popleft()
        if len(self.times) >= limit:
            return max((self.times[0] - start).total_seconds(), 0.001)
        return None
