"""What happens to a verification message that failed five times (the poison queue).

The queue extension moves such a message to ``webex-verify-poison`` and forgets it. Left alone, the
incident would stay open with no run scheduled until the health timer notices the overdue run — and
nobody would learn that verification itself is failing. So the watcher:

1. tells the admins with an operational notice naming the incident (once per incident and attempt,
   so a message that keeps failing does not flood them);
2. re-arms the incident's verification with a fresh message for its current attempt, after the
   schedule's longest delay (30 min by default) so a persistent failure does not spin.

A message for an incident that is no longer open (resolved meanwhile) or unreadable is only logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.core.errors import PayloadError
from shared.core.logcontext import bind

if TYPE_CHECKING:
    from shared.core.settings import Settings
    from shared.incidents.operational import OperationalDeps
    from shared.incidents.schedule import VerifyScheduler
    from shared.incidents.store import IncidentStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PoisonDeps:
    """What the poison watcher uses: the settings (schedule, catalogue), the incident store, the
    verification scheduler and the operational notices."""

    settings: Settings
    store: IncidentStore
    scheduler: VerifyScheduler
    operational: OperationalDeps


@dataclass(frozen=True, slots=True)
class PoisonOutcome:
    outcome: str  # rearmed | no_incident | stale | unreadable
    incident_id: str | None = None
    notified: tuple[str, ...] = ()
    next_delay: float | None = None


async def handle_poisoned(deps: PoisonDeps, body: bytes | str) -> PoisonOutcome:
    """Tell the admins and re-arm. The attempts are the configured ``maxDequeueCount``: the message
    handed over here is the extension's copy, whose ``DequeueCount`` is 1 whatever it went through."""
    from shared.clients.verify_queue import VerifyMessage
    from shared.core.names import MAX_DEQUEUE_COUNT
    from shared.core.settings import POISON_QUEUE, VERIFY_QUEUE
    from shared.incidents.operational import OperationalNotice, send_operational

    try:
        msg = VerifyMessage.from_json(body)
    except PayloadError as exc:
        log.error("poisoned verification message is unreadable (%s); dropped", exc)
        return PoisonOutcome("unreadable")
    inc = await deps.store.get_open(msg.tenant_id, msg.app_key)
    if inc is None:
        log.info("poisoned verification message for %s: no open incident any more", msg.incident_id)
        return PoisonOutcome("no_incident", msg.incident_id)
    if inc.incident_id != msg.incident_id:
        log.info("poisoned verification message for %s: superseded by %s", msg.incident_id, inc.incident_id)
        return PoisonOutcome("stale", msg.incident_id)

    delay = float(max(deps.settings.verify_delays))
    app = deps.settings.catalogue.by_key(inc.app_key)
    name = app.display_name if app else inc.app_key
    notice = OperationalNotice(
        kind="verification_poisoned",
        title=f"Verification of incident {inc.incident_id} keeps failing",
        lines=(
            f"The verification run for incident {inc.incident_id} ({name}, state {inc.state}, "
            f"{inc.verify_attempts} runs so far) failed {MAX_DEQUEUE_COUNT} times (the queue's "
            f"maxDequeueCount) and was moved to the queue {POISON_QUEUE}.",
            f"The incident is still open. Its verification has been re-armed on {VERIFY_QUEUE}; the next run "
            f"is in {int(delay // 60)} min.",
            "If this repeats, look for errors of the verify_incident function in Application Insights.",
            f"Last verdicts: {inc.last_verdict or 'none yet'}",
        ),
        incident_id=inc.incident_id,
    )
    sent = await send_operational(deps.operational, notice, once_key=f"poison:{inc.incident_id}:{inc.verify_attempts}")
    await deps.scheduler.schedule(inc, delay=delay)
    with bind(tenant_id=inc.tenant_id, incident_id=inc.incident_id, app=inc.app_key):
        log.warning(
            "incident %s: poisoned verification message re-armed (next run in %.0f s)", inc.incident_id, delay,
            extra={"event": "verification_poisoned"},
        )  # fmt: skip
    return PoisonOutcome("rearmed", inc.incident_id, tuple(sent), delay)
