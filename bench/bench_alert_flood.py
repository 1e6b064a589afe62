"""What a flood of alerts in one POST costs now: ``python bench/bench_alert_flood.py [alerts] [runs]``.

The red-team run posted 944 KB holding 4,500 alerts to ``/api/alerts``: 202 in 1 s, then 4,500 Log
Analytics queries (64 s of intake work). The endpoint now refuses more than
``MAX_ALERTS_PER_REQUEST`` alerts with 400 before anything is queued (docs/security.md, point 4).

Builds the smallest common-alert-schema alerts that still carry a window (about 270 bytes each, the
body kept under the 1 MiB limit), calls the real HTTP function with a ``func.HttpRequest`` and
prints the answer, the body size and the CPU time of the call (``time.process_time``; medians of
``runs``). No storage or simulator is needed: a refused body never reaches the queue. Prints
figures only: machines differ, so there is nothing to assert.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TENANT_ID", "3f2504e0-4f89-41d3-9a0c-0305e82c3301")
os.environ.setdefault("WEBEX_ORG_ID", "2fdb923e-1d23-4e1b-a30f-e9cd88845744")
os.environ.setdefault("LOG_ANALYTICS_WORKSPACE_ID", "7e9d1c2b-4a5f-4e6d-9c8b-1a2b3c4d5e6f")
os.environ.setdefault("AzureWebJobsStorage", "UseDevelopmentStorage=true")


def flood(count: int) -> bytes:
    now = datetime.now(UTC)
    start = (now - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    alerts = [
        {
            "schemaId": "azureMonitorCommonAlertSchema",
            "data": {
                "essentials": {"alertId": f"/alerts/{n:06d}", "signalType": "Log", "monitorCondition": "Fired"},
                "alertContext": {"condition": {"windowStartTime": start, "windowEndTime": end}},
            },
        }
        for n in range(count)
    ]
    return json.dumps(alerts).encode()


async def main(count: int, runs: int) -> None:
    import azure.functions as func

    import function_app

    handler = {f.get_function_name(): f for f in function_app.app.get_functions()}["monitor_alert"]
    call = handler.get_user_function()
    body = flood(count)
    headers = {"content-type": "application/json"}
    times: list[float] = []
    status, answer = 0, b""
    for _ in range(runs):
        request = func.HttpRequest(method="POST", url="https://app.example/api/alerts", headers=headers, body=body)
        t0 = time.process_time()
        response = await call(request)
        times.append(time.process_time() - t0)
        status, answer = response.status_code, response.get_body()
    ms = statistics.median(times) * 1000
    size = len(body) / 1024
    print(f"{count} alerts, {size:.0f} KiB -> {status} {answer.decode()[:80]} ({ms:.0f} ms CPU, median of {runs})")
    print(json.dumps({"alerts": count, "body_bytes": len(body), "status": status, "cpu_ms": round(ms, 1)}))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 3500, int(sys.argv[2]) if len(sys.argv) > 2 else 5))
