"""Timer trigger: the safety net (schedule from the ``HEALTH_SCHEDULE`` app setting, NCRONTAB).

The timer is a singleton across instances; a late tick (``past_due``) runs once, and one that
follows the previous run too closely is skipped (:mod:`shared.app.sweep`); a run that would overlap
another skips on the lease. ``run_on_startup`` stays off: it would fire on every restart and
scale-out.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

import azure.functions as func

if TYPE_CHECKING:
    from shared.app.runtime import Services
    from shared.checks.report import HealthReport

bp = func.Blueprint()
log = logging.getLogger(__name__)

TICK_EVENT = "health_tick"
"""Structured event on every tick, whatever its outcome: the "health timer stopped" alert counts it
(infra/app/alerts.bicep queries ``customDimensions.event``)."""


@bp.function_name("health_check")
@bp.timer_trigger(arg_name="timer", schedule="%HEALTH_SCHEDULE%", run_on_startup=False, use_monitor=True)
async def health_check(timer: func.TimerRequest) -> None:
    from shared.app.warmup import warm

    await warm("full")  # first-use imports and msgraph's models off the event loop
    from shared.app.runtime import get_services
    from shared.app.sweep import run_tick

    if timer.past_due:
        log.info("health check tick is past due; running once now")
    svc = await get_services()
    if svc.settings.tenancy_mode == "provider":
        await _fan_out(svc, past_due=timer.past_due)
        return
    tick = await run_tick(await svc.sweep_deps(), past_due=timer.past_due)
    if not tick.ran or tick.health is None:
        log.info("health check tick skipped (%s)", tick.skipped, extra={"event": TICK_EVENT, "outcome": "skipped"})
        return
    await _keep_for_status_page(svc, tick.health.report)
    verdicts = {r.name: r.verdict for r in tick.health.report.results}
    summary = {
        "audit_records": tick.audit_records,
        "removed": tick.removed,
        "outcomes": [o.as_dict() for o in tick.outcomes + tick.health.outcomes if o.outcome != "ignored"],
    }
    # The verdicts as one JSON dimension: the workbook charts them per check (infra/app/workbook.json).
    dims = {"event": TICK_EVENT, "verdicts": json.dumps(verdicts, sort_keys=True)}
    if tick.health.healthy:
        log.info("health check: healthy %s %s", verdicts, summary, extra={**dims, "outcome": "healthy"})
    else:
        log.warning("health check: unhealthy %s %s", verdicts, summary, extra={**dims, "outcome": "unhealthy"})


async def _keep_for_status_page(svc: Services, report: HealthReport) -> None:
    """The latest health table, for the status page (functions/status.py)."""
    from shared.app.status import record_health
    from shared.clients.health_rows import HealthRows
    from shared.clients.storage import table_client
    from shared.core.clock import clock

    async with table_client(svc.storage, svc.settings.incidents_table) as table:
        await record_health(HealthRows(table, svc.settings.tenant_id), report, now=clock.now())


async def _fan_out(svc: Services, *, past_due: bool) -> None:
    """Provider mode: the digest of the last sweep, then one sweep message per tenant."""
    from shared.app.tenant_sweep import fan_out

    out = await fan_out(svc.fan_out_deps(), past_due=past_due)
    if not out.ran:
        log.info("tenant sweep fan-out skipped (%s)", out.skipped, extra={"event": TICK_EVENT, "outcome": "skipped"})
        return
    counts = {"sent": len(out.sent), "waiting": len(out.waiting), "throttled": len(out.throttled),
              "failed": len(out.failed)}  # fmt: skip
    log.info("tenant sweep %s fanned out: %s; digest %s", out.sweep_id, counts, out.digest,
             extra={"event": TICK_EVENT, "outcome": "fanned_out", **counts})  # fmt: skip
