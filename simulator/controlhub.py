"""Control Hub's directory-sync status call, in modes: what it really does cannot be known.

``GET identity-b-us.webex.com/extIntegration/azureAD/{orgId}/v1/WebexApplications/status`` is not a
documented public API (it is absent from developer.webex.com's API reference); the only evidence is
Control Hub's own UI calling it with an administrator's session (the seed tech note). So its answer to
*our* token, its body and how fast it follows Entra are unknowns, and the simulator offers each guess
as a mode (``POST /_sim/webex/status``); tests run the product under more than one:

``as_today``
    Any valid Webex token; 200 with the body the project has always modelled while the integration
    works, else 401 with the tech note's ``701018`` body; follows Entra at once.
``admin_only``
    Only an administrator's own token is accepted (``WEBEX_ACCESS_TOKEN`` of the simulated admin):
    the bot's token is refused with 403, a service app's token (and any other) with 401 — a refusal
    that says nothing about the tenant's consent.
``unknown_body``
    200 whatever the state, with a body in a shape the project has never seen.
``lagging``
    As ``as_today``, but the answer reflects Entra as it was ``lag_seconds`` earlier on the simulator
    clock (a cache or an asynchronous sync on Webex's side).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

MODES = ("as_today", "admin_only", "unknown_body", "lagging")
DEFAULT_LAG_SECONDS = 300.0


@dataclass(slots=True)
class ControlHubStatus:
    """The status call's mode, plus the integration's health over time (for ``lagging``)."""

    started: datetime
    mode: str = "as_today"
    lag_seconds: float = DEFAULT_LAG_SECONDS
    history: list[tuple[datetime, bool]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.history:
            self.history.append((self.started, True))

    def configure(self, mode: str, lag_seconds: float | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        if lag_seconds is not None:
            if lag_seconds < 0:
                raise ValueError("lag_seconds must not be negative")
            self.lag_seconds = float(lag_seconds)
        self.mode = mode

    def observe(self, now: datetime, healthy: bool) -> None:
        """Note the integration's health at ``now`` (called after every simulator request, so every
        change is seen at the simulator time it happened)."""
        if self.history[-1][1] != healthy:
            self.history.append((now, healthy))

    def reported_healthy(self, now: datetime, healthy_now: bool) -> bool:
        """What the status call reports: the state now, or ``lag_seconds`` ago in ``lagging`` mode."""
        self.observe(now, healthy_now)
        if self.mode != "lagging":
            return healthy_now
        cutoff = now - timedelta(seconds=self.lag_seconds)
        seen = self.history[0][1]
        for when, healthy in self.history:
            if when > cutoff:
                break
            seen = healthy
        return seen

    def describe(self) -> dict[str, object]:
        return {"mode": self.mode, "lag_seconds": self.lag_seconds, "changes": len(self.history) - 1}
