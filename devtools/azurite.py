"""Start Azurite (installed from npm into ./node_modules by the Makefile) on free loopback ports.

Port 0 lets the OS pick free ports with no race; Azurite prints the ports it bound, which we read.
In-memory persistence: every run starts empty and leaves nothing on disk.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "devstoreaccount1"
# Azurite's well-known development key (public, documented; not a secret).
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
_LISTEN = re.compile(r"Azurite (Blob|Queue|Table) service is successfully listening at http://127\.0\.0\.1:(\d+)")


@dataclass
class Azurite:
    process: subprocess.Popen[str]
    ports: dict[str, int]

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
            f"BlobEndpoint=http://127.0.0.1:{self.ports['Blob']}/{ACCOUNT};"
            f"QueueEndpoint=http://127.0.0.1:{self.ports['Queue']}/{ACCOUNT};"
            f"TableEndpoint=http://127.0.0.1:{self.ports['Table']}/{ACCOUNT};"
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def azurite_binary() -> str:
    local = ROOT / "node_modules" / ".bin" / "azurite"
    if local.exists():
        return str(local)
    found = shutil.which("azurite")
    if found:
        return found
    raise RuntimeError("Azurite is not installed: run `make setup` (npm install into ./node_modules)")


def start_azurite(timeout: float = 60.0) -> Azurite:
    cmd = [
        azurite_binary(), "--inMemoryPersistence", "--skipApiVersionCheck", "--loose", "--silent",
        "--blobHost", "127.0.0.1", "--queueHost", "127.0.0.1", "--tableHost", "127.0.0.1",
        "--blobPort", "0", "--queuePort", "0", "--tablePort", "0",
    ]  # fmt: skip
    proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT, env={**os.environ}
    )
    ports: dict[str, int] = {}
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    seen: list[str] = []
    while len(ports) < 3:
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise RuntimeError("Azurite did not start: " + " | ".join(seen[-5:]))
        line = proc.stdout.readline()
        seen.append(line.strip())
        m = _LISTEN.search(line)
        if m:
            ports[m.group(1)] = int(m.group(2))
    # Keep draining output so Azurite never blocks on a full pipe.
    import threading

    def drain() -> None:
        assert proc.stdout is not None
        for _ in proc.stdout:
            pass

    threading.Thread(target=drain, daemon=True).start()
    return Azurite(proc, ports)
