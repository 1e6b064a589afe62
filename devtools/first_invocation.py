"""One trigger's first invocation in this (fresh) interpreter, timing every event-loop callback.

``python -m devtools.first_invocation TRIGGER SPEC_FILE`` (environment: the services', as
``devtools.services`` sets it). As the Python worker does, ``function_app`` is imported first (the
indexing), then the trigger's user function runs once on a loop in asyncio debug mode
(``slow_callback_duration`` = 100 ms). Every callback the loop runs is timed — wall time and the
thread's CPU time, which a busy machine does not inflate — and asyncio's own "Executing … took …"
warnings are captured. Prints one JSON line: the trigger, the longest callback (wall and CPU, ms),
the callbacks over the threshold, asyncio's warnings, and the invocation's wall time.

``SPEC_FILE`` holds the binding's input as JSON: ``{"event": {...}}`` (Event Grid data), or
``{"body": "..."}`` (HTTP body or the decoded queue message); the timer needs none. A provider-mode
trigger's spec also names the environment the child runs with (``{"env": {...}}``).
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import json
import logging
import os
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ALERT_V2 = (
    Path(__file__).resolve().parent.parent / "tests/fixtures/reference/azmon_common_alert_full_LogAlertsV2_webhook.json"
)
THRESHOLD = 0.1
"""asyncio debug mode's slow-callback threshold the project holds every invocation to (seconds)."""

FUNCTIONS = {
    "eventgrid": "eventgrid_audit",
    "alert": "monitor_alert",
    "intake": "intake_process",
    "verify": "verify_incident",
    "timer": "health_check",
    "poison": "verify_poison",
    "tenant_sweep": "tenant_sweep",
    "tenant_sweep_poison": "tenant_sweep_poison",
}
PROVIDER_TRIGGERS = frozenset({"tenant_sweep", "tenant_sweep_poison"})
"""Triggers of provider mode: their spec carries the provider environment (``env``) the child runs with."""


class CallbackTimer:
    """Times each ``Handle._run`` (how the loop runs every callback and task step). With ``profile``
    each callback also runs under cProfile and a slow one keeps its top functions (finding blockers)."""

    def __init__(self, *, profile: bool = False) -> None:
        self.profile = profile
        self.max_wall = 0.0
        self.max_cpu = 0.0
        self.count = 0
        self.slow: list[dict[str, Any]] = []

    def install(self) -> None:
        original: Callable[[asyncio.Handle], None] = asyncio.Handle._run

        def timed(handle: asyncio.Handle) -> None:
            profiler = cProfile.Profile() if self.profile else None
            cpu0, wall0 = time.thread_time(), time.perf_counter()
            try:
                if profiler is None:
                    original(handle)
                else:
                    profiler.runcall(original, handle)
            finally:
                wall, cpu = time.perf_counter() - wall0, time.thread_time() - cpu0
                self.count += 1
                self.max_wall, self.max_cpu = max(self.max_wall, wall), max(self.max_cpu, cpu)
                if wall >= THRESHOLD or cpu >= THRESHOLD:
                    self.slow.append({"wall_ms": round(wall * 1000, 1), "cpu_ms": round(cpu * 1000, 1),
                                      "callback": repr(handle)[:300], **_top(profiler)})  # fmt: skip

        setattr(asyncio.Handle, "_run", timed)  # noqa: B010 - patching the class the loop calls


def _top(profiler: cProfile.Profile | None, lines: int = 40) -> dict[str, str]:
    if profiler is None:
        return {}
    out = io.StringIO()
    order = os.environ.get("FIRST_INVOCATION_SORT", "cumulative")  # or tottime
    pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(lines)
    return {"profile": out.getvalue()}


class AsyncioWarnings(logging.Handler):
    """asyncio debug mode's "Executing <handle> took X seconds" lines."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Executing "):
            self.lines.append(message[:300])


async def prepare_spec(trigger: str, sim: Any, functions: dict[str, Any]) -> dict[str, Any]:
    """The binding input of ``trigger``'s first invocation, prepared in the calling (warm) process
    against the simulator scenario ``sim`` (a ``SimulatorControl``) and the app's ``functions``."""
    import base64

    from tests.helpers import deliver_event, eventgrid_event, raw_queue_bodies, receive_verify_messages

    if trigger in PROVIDER_TRIGGERS:
        return await _provider_spec(sim)
    if trigger == "timer":
        await sim.delete("integration")  # the tick finds it: Graph, tables, notices
        return {}
    if trigger == "alert":
        return {"body": ALERT_V2.read_text(encoding="utf-8")}
    records = await sim.delete("integration", actor="mallory@contoso.example")
    if trigger == "eventgrid":
        return {"event": records[0]}
    if trigger == "intake":
        await functions["eventgrid_audit"].get_user_function()(eventgrid_event(records[0]))
        (raw,) = await raw_queue_bodies("webex-intake")
        return {"body": base64.b64decode(raw).decode()}
    await deliver_event(functions, records[0])  # verify, poison: an open incident and its message
    (msg,) = await receive_verify_messages()
    return {"body": msg.get_body().decode()}


async def _provider_spec(sim: Any) -> dict[str, Any]:
    """A customer tenant (in the simulator and a fresh tenants table) whose admin deleted the Webex
    integration, and its sweep message; ``env``: the provider environment for the child. The caller
    has put that environment in place, so this process's services write the tenants table the
    child reads."""
    import os
    from datetime import UTC, datetime

    from shared.app.runtime import get_services, reset_services
    from shared.clients.sweep_queue import SweepMessage
    from shared.core.clock import format_timestamp
    from shared.core.settings import reset_settings
    from shared.core.tenant import make_tenant

    reset_settings()
    await reset_services()
    store = (await get_services()).tenant_store()
    await store.ensure()
    (world,) = await sim.add_tenants(1)
    tid = world["tenant_id"]
    assert await store.add(make_tenant(tid, display_name="Customer", contacts=f"it@{tid[:8]}.example"))
    await sim.for_tenant(tid).delete("integration", actor="mallory@customer.example")
    await reset_services()
    body = SweepMessage(tid, format_timestamp(datetime.now(UTC))).to_json()
    env = {k: os.environ[k] for k in ("TENANCY_MODE", "TENANTS_TABLE", "PROVIDER_APP_CLIENT_ID")}
    return {"body": body, "env": env}


def binding_input(trigger: str, spec: dict[str, Any]) -> Any:
    """What the worker hands the function, built from ``spec`` (no SDK involved, as in the worker)."""
    import uuid
    from datetime import UTC, datetime

    import azure.functions as func
    from azure.functions.queue import QueueMessage
    from azure.functions.timer import TimerRequest

    if trigger == "eventgrid":
        return func.EventGridEvent(
            id=str(uuid.uuid4()), data=spec["event"], topic="/subscriptions/0000/topics/audit",
            subject="auditLogs/directoryAudits", event_type="Webex.AuditRecord", event_time=datetime.now(UTC),
            data_version="1.0",
        )  # fmt: skip
    if trigger == "alert":
        headers = {"content-type": "application/json"}
        return func.HttpRequest(method="POST", url="https://app.example/api/alerts", headers=headers,
                                body=spec["body"].encode())  # fmt: skip
    if trigger == "timer":
        return TimerRequest(past_due=False)
    return QueueMessage(id=str(uuid.uuid4()), body=spec["body"].encode(), dequeue_count=1, pop_receipt="r")  # type: ignore[no-untyped-call]


async def invoke(function: Callable[[Any], Any], arg: Any) -> tuple[float, str]:
    loop = asyncio.get_running_loop()
    loop.slow_callback_duration = THRESHOLD
    started = time.perf_counter()
    try:
        result = await function(arg)
        outcome = f"status {result.status_code}" if hasattr(result, "status_code") else "ok"
    except Exception as error:  # reported, not hidden: the caller decides whether it matters
        outcome = f"raised {type(error).__name__}: {error}"[:300]
    from shared.app.runtime import reset_services

    elapsed = time.perf_counter() - started
    await reset_services()
    return elapsed, outcome


def main(argv: list[str]) -> int:
    trigger = argv[0]
    spec = json.loads(open(argv[1], encoding="utf-8").read()) if len(argv) > 1 else {}  # noqa: SIM115
    already = "msgraph" in sys.modules
    import function_app  # what the worker does when it indexes the app

    functions = {f.get_function_name(): f for f in function_app.app.get_functions()}
    user_function = functions[FUNCTIONS[trigger]].get_user_function()
    arg = binding_input(trigger, spec)
    warnings = AsyncioWarnings()
    logging.getLogger("asyncio").addHandler(warnings)
    timer = CallbackTimer(profile=os.environ.get("FIRST_INVOCATION_PROFILE") == "1")
    timer.install()
    before = set(sys.modules)
    elapsed, outcome = asyncio.run(invoke(user_function, arg), debug=True)
    imported = sorted(set(sys.modules) - before)
    print(json.dumps({
        "trigger": trigger, "outcome": outcome, "msgraph_imported_before": already,
        "max_callback_wall_ms": round(timer.max_wall * 1000, 1), "max_callback_cpu_ms": round(timer.max_cpu * 1000, 1),
        "callbacks": timer.count, "slow": timer.slow, "asyncio_warnings": warnings.lines,
        "invocation_ms": round(elapsed * 1000, 1), "modules_imported": len(imported),
        **({"imported": imported} if os.environ.get("FIRST_INVOCATION_MODULES") == "1" else {}),
    }))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
