"""A separate OS process that ingests one payload, as a second Functions worker would.

``python -m tests.concurrent_worker PAYLOAD_FILE GO_FILE``: builds its services (Azurite and the
simulator from the environment), prints ``ready``, waits until ``GO_FILE`` exists so all workers
start together, runs :func:`shared.app.push.ingest_payload` and prints one JSON line. Exit code 0 when
the invocation succeeded, 3 when it raised :class:`TransientError` (the platform would retry it).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time


def wait_for(go_file: str, timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while not os.path.exists(go_file):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


async def main(payload: object, go_file: str) -> int:
    from shared.app.push import ingest_payload
    from shared.app.runtime import get_services
    from shared.core.errors import TransientError

    svc = await get_services()
    await svc.http()
    print("ready", flush=True)
    if not await asyncio.to_thread(wait_for, go_file):
        return 4
    try:
        result = await ingest_payload(svc.push_deps(), payload)
    except TransientError as exc:
        print(json.dumps({"pid": os.getpid(), "error": str(exc)}), flush=True)
        await svc.aclose()
        return 3
    print(json.dumps({"pid": os.getpid(), "outcomes": [o.outcome for o in result.outcomes]}), flush=True)
    await svc.aclose()
    return 0


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as f:
        event = json.load(f)
    sys.exit(asyncio.run(main(event, sys.argv[2])))
