"""``python -m simulator [--host H] [--port P] [--ca-file PATH]``: serve until SIGINT/SIGTERM.

Prints one JSON line with the environment a client needs (:meth:`Simulator.env`), so a script can
start it in the background and read its settings from the first line of output.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys

from simulator.server import Simulator


async def serve(host: str, port: int, ca_file: str | None) -> None:
    sim = Simulator(ca_pem_path=ca_file)
    await sim.start(host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    sys.stdout.write(json.dumps(sim.env()) + "\n")
    sys.stdout.flush()
    try:
        await stop.wait()
    finally:
        await sim.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ca-file", default=None, help="where to write the CA certificate (default: a temp file)")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.host, args.port, args.ca_file))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
