"""A long audit-log poll under Graph's audit rate limit, against Azurite and the simulator.

``python -m devtools.services -- python bench/bench_audit_poll.py [records]`` (``make bench`` runs it).
``records`` (default 3,000; 5,000 fills MAX_PAGES) watched-activity records wait in
``directoryAudits``, 100 to a page. The timer's poll reads them three ways:

- paced (the app's pacer), the simulator enforcing ``auditLogRoot``'s 5 requests per 10 s per app
  (learn.microsoft.com/graph/throttling-limits). Its waits go through the injected clock (the app's
  and the simulator's move together): the figure is what a tenant would wait, spread over ticks;
- back to back (the poll before issue 14) against the same limit: it draws 429s, which the retry
  policy honours by sleeping ``Retry-After`` in-process, for real (no test mode here);
- back to back with the limit off (the old, kind simulator).

Prints requests, ticks (one a minute) until the backlog is read, seconds waited for the limit, 429
answers and wall time here, then one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


async def poll_backlog(control: Any, records: int, limited: bool, paced: bool) -> dict[str, object]:
    from shared.app import sweep as safety_net
    from shared.app.runtime import get_services, reset_services
    from shared.app.sweep import AUDIT_STATE, RatePacer, run_tick
    from shared.core.clock import clock
    from shared.core.settings import reset_settings

    safety_net.AUDIT_PACER = RatePacer(5, 10.0) if paced else RatePacer(10**9, 10.0)
    os.environ["INCIDENTS_TABLE"] = "benchpoll" + uuid.uuid4().hex[:10]
    reset_settings()
    await reset_services()
    clock.reset()
    await control.reset()
    await control.graph_behaviour(audit_rate_limit=5 if limited else 0)
    for _ in range(records):
        await control.activity("Update service principal", app="identity")
    await control.clear_requests()
    waited = 0.0

    async def advance(seconds: float) -> None:
        nonlocal waited
        waited += seconds
        clock.advance(seconds)
        await control.advance_clock(seconds)

    clock.sleeper = advance
    svc = await get_services()
    started = time.perf_counter()
    read = ticks = 0
    while ticks < 20:
        tick = await run_tick(await svc.sweep_deps())
        ticks += 1
        read += tick.audit_records
        cursor = (await svc.checkpoints().get_state(AUDIT_STATE)).values.get("next")
        if not cursor and read >= records:
            break
        clock.advance(60)  # the next timer tick
        await control.advance_clock(60)
    wall = time.perf_counter() - started
    polls = await control.requests(path=r"/auditLogs/directoryAudits$", method="GET")
    clock.sleeper = None
    await svc.aclose()
    return {
        "poll": "paced" if paced else "back to back",
        "rate_limit": "5 per 10 s" if limited else "off",
        "records": read,
        "pages": len(polls),
        "ticks": ticks,
        "paced_wait_s": round(waited, 1),
        "throttled_429": sum(1 for p in polls if p["status"] == 429),
        "wall_s": round(wall, 2),
    }


async def run(records: int) -> list[dict[str, object]]:
    from simulator.client import SimulatorControl

    control = SimulatorControl(os.environ["SIMULATOR_URL"], verify=os.environ["SSL_CERT_FILE"])
    try:
        modes = ((True, True), (True, False), (False, False))
        return [await poll_backlog(control, records, limited, paced) for limited, paced in modes]
    finally:
        await control.aclose()


def main() -> None:
    records = int(sys.argv[1]) if len(sys.argv) > 1 else 3_000
    results = asyncio.run(run(records))
    print(f"audit-log poll of a {records:,}-record backlog (100 per page):")
    for r in results:
        print(
            f"  {r['poll']:>12}, rate limit {r['rate_limit']:>10}: {r['pages']} requests in {r['ticks']} tick(s), "
            f"{r['paced_wait_s']} s waited for the limit, {r['throttled_429']} × 429, {r['wall_s']} s wall here"
        )
    print(json.dumps({"bench": "audit_poll", "backlog": records, "results": results}))


if __name__ == "__main__":
    main()
