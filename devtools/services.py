"""Run a command with Azurite and the loopback simulator started, then stop both.

``python -m devtools.services -- python -m shared.cli demo`` is what ``make demo`` runs. The child
gets the same settings an Azure deployment would have (``AzureWebJobsStorage``, ``TENANT_ID``,
``GRAPH_BASE_URL`` …), pointing at Azurite and the simulator, plus ``SIMULATOR_URL`` for the
scenario API and ``SSL_CERT_FILE`` so the real clients trust the simulator's test CA.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from devtools.azurite import start_azurite


@contextmanager
def services() -> Iterator[dict[str, str]]:
    """Start Azurite and the simulator; yield the environment that points at them."""
    from simulator.server import SimulatorThread
    from simulator.tls import trust_in_process

    azurite = start_azurite()
    sim = SimulatorThread()
    try:
        sim.start()
        env = {
            **sim.env(),
            "AzureWebJobsStorage": azurite.connection_string,
            "SIMULATOR_URL": sim.base_url,
        }
        # aiohttp (azure-core's async transport) builds its default SSL context once, at import:
        # make this process trust the simulator's CA too, not only the children we start.
        trust_in_process(env["SSL_CERT_FILE"])
        yield env
    finally:
        sim.stop()
        azurite.stop()


def main(argv: list[str]) -> int:
    if "--" in argv:
        argv = argv[argv.index("--") + 1 :]
    if not argv:
        print("usage: python -m devtools.services -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    with services() as env:
        proc = subprocess.run(argv, env={**os.environ, **env}, check=False)  # noqa: S603 - the developer's own command
        return proc.returncode


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
