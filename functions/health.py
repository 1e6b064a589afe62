"""Timer trigger: the health check (schedule from the ``HEALTH_SCHEDULE`` app setting, NCRONTAB).

The timer is a singleton across instances; a late tick (``past_due``) runs once like any other.
``run_on_startup`` stays off: it would fire on every restart and scale-out.
"""

from __future__ import annotations

import logging

import azure.functions as func

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.function_name("health_check")
@bp.timer_trigger(arg_name="timer", schedule="%HEALTH_SCHEDULE%", run_on_startup=False, use_monitor=True)
async def health_check(timer: func.TimerRequest) -> None:
    from shared.health import run_health_check
    from shared.runtime import get_services

    if timer.past_due:
        log.info("health check tick is past due; running once now")
    svc = await get_services()
    outcome = await run_health_check(svc)
    verdicts = {r.name: r.verdict for r in outcome.report.results}
    if outcome.healthy:
        log.info("health check: healthy %s", verdicts)
    else:
        log.warning("health check: unhealthy %s; outcomes %s", verdicts, [o.as_dict() for o in outcome.outcomes])
