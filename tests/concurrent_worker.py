"""A separate OS process that ingests one payload, as a second Functions worker would.

``python -m tests.concurrent_worker PAYLOAD_FILE``: builds its services (Azurite and the simulator
from the environment), prints ``ready``, blocks on its stdin until the test writes ``go`` (so all
workers start together, and none spins while it waits), runs :func:`shared.app.push.ingest_payload`
and prints one JSON line. Exit code 0 when the invocation succeeded, 3 when it raised
:class:`TransientError` (the platform would retry it), 4 when it was never told to go.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys


def wait_for_go() -> bool:
    """Block (no polling) until the test writes a line; EOF (the test went away) is not a go."""
    return sys.stdin.readline().strip() == "go"


async def main(payload: object) -> int:
    from shared.app.push import ingest_payload
    from shared.app.runtime import get_services
    from shared.core.errors import TransientError

    svc = await get_services()
    await svc.http()
    print("ready", flush=True)
    if not await asyncio.to_thread(wait_for_go):
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
    sys.exit(asyncio.run(main(event)))
