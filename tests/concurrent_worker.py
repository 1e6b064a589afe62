"""Separate OS processes that each ingest one payload, as scaled-out Functions workers would.

``python -m tests.concurrent_worker PAYLOAD_FILE N``: imports the app and its SDKs once
(:func:`shared.app.warmup.warm_now`, no thread or event loop started yet), then forks ``N`` worker
processes. Each builds its own services and connections (Azurite and the simulator from the
environment) on its own event loop and reports ready; when all are, the launcher prints ``ready``
and blocks on its stdin until the test writes ``go`` (so all workers start together, and none spins
while it waits). Each worker runs :func:`shared.app.push.ingest_payload` and prints one JSON line;
its exit code is 0 when the invocation succeeded, 3 when it raised :class:`TransientError` (the
platform would retry it), 4 when it was never told to go, 1 on anything else. The launcher's last
line is ``{"codes": [...]}``, one exit code a worker.

Forking after the imports is what makes 20 workers cheap: each would otherwise import the SDKs
(≈1.5 s of CPU) on its own.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import traceback


def _say(text: str) -> None:
    """One line on stdout in one write (shorter than PIPE_BUF: lines of workers never interleave)."""
    os.write(1, (text + "\n").encode())


async def work(payload: object, ready_fd: int, go_fd: int) -> int:
    from shared.app.push import ingest_payload
    from shared.app.runtime import get_services
    from shared.core.errors import TransientError

    svc = await get_services()
    await svc.http()
    os.write(ready_fd, b"r")
    if await asyncio.to_thread(os.read, go_fd, 1) != b"g":  # EOF: the launcher went away
        return 4
    try:
        result = await ingest_payload(svc.push_deps(), payload)
    except TransientError as exc:
        _say(json.dumps({"pid": os.getpid(), "error": str(exc)}))
        await svc.aclose()
        return 3
    _say(json.dumps({"pid": os.getpid(), "outcomes": [o.outcome for o in result.outcomes]}))
    await svc.aclose()
    return 0


def _worker(payload: object, ready_fd: int, go_fd: int) -> None:
    """The forked child: never returns into the launcher's code."""
    code = 1
    try:
        code = asyncio.run(work(payload, ready_fd, go_fd))
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def launch(payload: object, count: int) -> list[int]:
    from shared.app.warmup import warm_now

    warm_now("full")  # every import a worker makes, paid once before the fork
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    pids = []
    for _ in range(count):
        pid = os.fork()
        if pid == 0:
            os.close(ready_r)
            os.close(go_w)
            _worker(payload, ready_w, go_r)
        pids.append(pid)
    os.close(ready_w)
    os.close(go_r)
    got = 0
    while got < count:
        chunk = os.read(ready_r, count)
        if not chunk:  # every worker's end is closed: one failed before it was ready
            break
        got += len(chunk)
    if got == count:
        _say("ready")
        if sys.stdin.readline().strip() == "go":
            os.write(go_w, b"g" * count)  # one byte a worker: all are released at once
    os.close(go_w)
    codes = []
    for pid in pids:
        _, status = os.waitpid(pid, 0)
        codes.append(os.waitstatus_to_exitcode(status))
    return codes


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as f:
        event = json.load(f)
    _say(json.dumps({"codes": launch(event, int(sys.argv[2]))}))
