"""httpcore asks ``import sniffio`` on every pooled request (httpcore._synchronization); without the
package each ask is a failed import that walks ``sys.path`` — ~60 a tenant sweep in provider mode
(bench/bench_tenants.py). requirements.txt pins it; this keeps it there."""

from __future__ import annotations

import sys
from pathlib import Path


def test_httpcore_finds_sniffio_instead_of_failing_an_import_per_request() -> None:
    import asyncio

    from httpcore._synchronization import current_async_library

    async def inside_a_loop() -> str:
        return current_async_library()

    assert asyncio.run(inside_a_loop()) == "asyncio"
    assert "sniffio" in sys.modules
    pins = (Path(__file__).resolve().parents[3] / "requirements.txt").read_text(encoding="utf-8")
    assert any(line.startswith("sniffio==") for line in pins.splitlines())
