"""The worker the crash harness kills: the Python language worker of one Functions instance.

``python -m tests.crash.worker SOCKET`` starts a *zygote*: it imports ``function_app`` and does the
warm-up tiers once (≈1 s), then forks a fresh worker for every line ``{"env": {...}}`` it reads on
stdin and prints the worker's pid. A fresh worker is a new process with nothing of the killed one
in memory (no clients, no event loop, no token cache), only the imported modules — what a restarted
instance has after its own imports — so a crash costs milliseconds instead of an interpreter start.

Each worker connects to the harness's Unix socket, says ``{"pid": …}`` and then runs invocations,
one JSON line each: ``{"fn": NAME, "arg": {...}, "clock": SECONDS}`` → ``{"ok": true, "status": …}``
or ``{"ok": false, "error": …}``. ``fn`` is a registered function of ``function_app``, called with the
same ``azure.functions`` objects the host builds (a ``QueueMessage`` with its dequeue count, an
``EventGridEvent``, an ``HttpRequest``, a ``TimerRequest``). ``clock`` is the harness's virtual time
(:mod:`shared.core.clock`): lease expiries and backoff read it, nothing waits for real.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
from datetime import datetime
from typing import Any


def _argument(fn: str, arg: dict[str, Any]) -> Any:
    """The trigger argument the host would build for ``fn``."""
    import azure.functions as func

    if fn == "eventgrid_audit":
        return func.EventGridEvent(
            id=arg["id"],
            data=arg["data"],
            topic=arg["topic"],
            subject=arg["subject"],
            event_type=arg["event_type"],
            event_time=datetime.fromisoformat(arg["event_time"]),
            data_version="1.0",
        )
    if fn == "monitor_alert":
        return func.HttpRequest(
            method="POST",
            url="https://app.example/api/alerts?code=k",
            headers={"content-type": "application/json"},
            body=arg["body"].encode(),
        )
    if fn == "health_check":
        from azure.functions.timer import TimerRequest

        return TimerRequest(past_due=bool(arg.get("past_due")))
    from azure.functions.queue import QueueMessage

    return QueueMessage(  # type: ignore[no-untyped-call]
        id=arg["id"], body=arg["body"].encode(), dequeue_count=arg["dequeue_count"], pop_receipt=arg["pop_receipt"]
    )


async def _invoke(functions: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    from shared.core.clock import clock

    clock.reset()
    clock.advance(float(request.get("clock", 0.0)))
    fn = request["fn"]
    try:
        result = await functions[fn].get_user_function()(_argument(fn, request.get("arg") or {}))
    except Exception as exc:  # the host records a failed invocation; the platform's retry decides
        return {"ok": False, "error": f"{type(exc).__name__}: {str(exc)[:300]}"}
    status = getattr(result, "status_code", None)
    return {"ok": status is None or status < 500, "status": status}


async def _serve(functions: dict[str, Any], socket_path: str) -> None:
    import stamina

    from shared.core.clock import clock

    async def advance(seconds: float) -> None:  # a paced wait moves the virtual clock, as in the suite
        clock.advance(seconds)

    stamina.set_testing(True, attempts=3)
    clock.sleeper = advance
    reader, writer = await asyncio.open_unix_connection(socket_path)
    writer.write(json.dumps({"pid": os.getpid()}).encode() + b"\n")
    await writer.drain()
    while line := await reader.readline():
        reply = await _invoke(functions, json.loads(line))
        writer.write(json.dumps(reply).encode() + b"\n")
        await writer.drain()


def _child(functions: dict[str, Any], socket_path: str, env: dict[str, str]) -> None:
    os.environ.update(env)
    if env.get("SSL_CERT_FILE"):  # the zygote may have started before the simulator (and its CA) did
        from simulator.tls import trust_in_process

        trust_in_process(env["SSL_CERT_FILE"])
    code = 0
    before = set(sys.modules)
    try:
        asyncio.run(_serve(functions, socket_path))
        _tell_imports(socket_path, set(sys.modules) - before)
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        sys.stderr.flush()
        os._exit(code)


def _tell_imports(socket_path: str, names: set[str]) -> None:
    """A worker that ended cleanly tells the zygote the modules it had to import (the product imports
    some where first used), so that the next workers start with them, as a long-lived instance has."""
    if names:
        with open(socket_path + ".imports", "a", encoding="utf-8") as out:
            out.write("".join(f"{name}\n" for name in sorted(names)))


def _learn_imports(socket_path: str, known: set[str]) -> None:
    """Import (in the zygote, before the next fork) what finished workers imported."""
    import contextlib
    import gc
    import importlib

    try:
        with open(socket_path + ".imports", encoding="utf-8") as told:
            names = {line.strip() for line in told} - known
    except FileNotFoundError:
        return
    known |= names
    for name in sorted(names):
        if name and name not in sys.modules:
            with contextlib.suppress(Exception):  # a module only a dead worker's state could import
                importlib.import_module(name)
    if names:
        gc.freeze()


def main(socket_path: str) -> int:
    import function_app
    from shared.app.warmup import warm_now
    from simulator.tls import trust_in_process

    if os.environ.get("SSL_CERT_FILE"):
        trust_in_process(os.environ["SSL_CERT_FILE"])
    for tier in ("full", "models"):
        warm_now(tier)
    functions = {str(f.get_function_name()): f for f in function_app.app.get_functions()}
    if threading.active_count() != 1:  # fork copies only the calling thread
        print(f"zygote has {threading.active_count()} threads; forked workers may hang", file=sys.stderr)
    print("ready", flush=True)
    learned: set[str] = set()
    for line in sys.stdin:
        _reap(block=False)
        _learn_imports(socket_path, learned)
        env = json.loads(line)["env"]
        pid = os.fork()
        if pid == 0:
            sys.stdin.close()
            _child(functions, socket_path, env)
        print(pid, flush=True)
    _reap(block=True)
    return 0


def _reap(*, block: bool) -> None:
    """Wait for the workers that ended (killed, or left on EOF): no zombies pile up, and their CPU
    time counts in the zygote's children (``time``, ``os.times()`` of the harness then see it all)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, 0 if block else os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
