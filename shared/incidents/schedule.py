"""The next verification run of an incident: a delayed queue message, then a note on the row.

Enqueue first, then note it on the row (``next_verify_at``): a crash in between leaves an extra
message, which the attempt check of the run drops — never a missing one. The delay is the
lifecycle's one formula (:func:`shared.incidents.lifecycle.delay_after`) unless the caller names one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING

from shared.clients.verify_queue import VerifyMessage
from shared.core.clock import clock
from shared.incidents.claims import write
from shared.incidents.lifecycle import Step, delay_after, reached

if TYPE_CHECKING:
    from shared.clients.verify_queue import VerifyQueue
    from shared.incidents.store import Incident, IncidentStore


@dataclass(frozen=True, slots=True)
class VerifyScheduler:
    """Schedules verification runs on ``queue`` and notes them in ``store``; ``delays`` is the
    configured schedule (``VERIFY_DELAYS``, seconds)."""

    store: IncidentStore
    queue: VerifyQueue
    delays: tuple[int, ...]

    def delay_for(self, inc: Incident) -> float:
        """The schedule's delay after the runs ``inc`` has had."""
        return delay_after(self.delays, inc.verify_attempts)

    async def schedule(self, inc: Incident, *, delay: float | None = None) -> Incident:
        """Queue the incident's next run (attempt = runs done so far); returns the row as noted."""
        if delay is None:
            delay = self.delay_for(inc)
        msg = VerifyMessage(inc.tenant_id, inc.app_key, inc.incident_id, inc.verify_attempts)
        await self.queue.send(msg, delay_seconds=delay)
        reached(Step.VERIFY_ENQUEUED)
        due = clock.now() + timedelta(seconds=delay)
        return await write(
            self.store, inc, lambda c: replace(c, next_verify_at=due), step=Step.VERIFY_NOTED, known=True
        )
