"""shared/app/warmup.py: every tier's work runs (a renamed SDK module fails here, not silently in Azure),
and after it a first use imports nothing heavy on the loop."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import asyncio, gc, json, sys
from shared.app import warmup

async def main():
    await warmup.warm({tier!r})
    return warmup.is_warm({tier!r})

done = asyncio.run(main())
print(json.dumps({{"warm": done, "frozen": gc.get_freeze_count(), "tracked": len(gc.get_objects()),
                  "msgraph_models": "msgraph.generated.models.entity" in sys.modules,
                  "modules": sorted(m for m in {expect!r} if m in sys.modules)}}))
"""


@pytest.mark.parametrize(
    ("tier", "expect", "models"),
    [
        ("push", ("azure.storage.queue.aio", "aiohttp", "pydantic", "shared.detect.normalize"), False),
        ("full", ("azure.identity.aio", "azure.data.tables.aio", "msgraph.graph_service_client", "httpcore", "jinja2"),
         False),
        ("models", ("msgraph.generated.models.service_principal",), True),
    ],
)  # fmt: skip
def test_each_tier_warms_in_a_fresh_interpreter(tier: str, expect: tuple[str, ...], models: bool) -> None:
    code = PROBE.format(tier=tier, expect=expect)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["warm"] is True, out.stderr[-3000:]
    assert result["modules"] == sorted(expect)
    assert result["msgraph_models"] is models, "only the models tier pays for msgraph's ~1,200 model modules"
    # What the tier created is out of the collector's reach: a full collection on the loop would
    # otherwise walk it (70-95 ms of a first verification or tick, bench/bench_first_invocation.py).
    assert result["frozen"] > 50_000
    assert result["tracked"] < result["frozen"] // 10


async def test_a_failed_warm_up_never_fails_the_invocation(monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.app import warmup

    def broken() -> None:
        raise ModuleNotFoundError("renamed")

    monkeypatch.setitem(warmup.TIERS, "broken", (broken,))
    monkeypatch.setitem(warmup._locks, "broken", warmup.threading.Lock())
    await warmup.warm("broken")  # logged, not raised
    assert not warmup.is_warm("broken")
