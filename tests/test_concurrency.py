"""Concurrency on real storage: 20 workers, one event; two writers, one incident.

Event Grid and the alert action group deliver at least once and the Functions host scales out, so
the same record can be processed by several processes at the same moment. The table's
insert-if-absent, the ETag-checked updates and the per-channel delivery claims must turn that into
one incident and one notice per channel, as the simulator records them.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from tests.helpers import incidents

ROOT = Path(__file__).resolve().parent.parent
WORKERS = 20


async def _processed(sim: Any, path: str) -> int:
    return sum(
        1
        for r in await sim.requests(path=path, method="POST")
        if r["fault"] is None and isinstance(r["status"], int) and r["status"] < 300
    )


async def test_same_event_from_20_processes_at_once(sim: Any, tmp_path: Path) -> None:
    from shared.app.push import ingest_payload
    from shared.app.runtime import get_services

    records = await sim.delete("integration", actor="mallory@contoso.example")
    payload = tmp_path / "event.json"
    payload.write_text(json.dumps(records[0]))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # One launcher imports the app once and forks the 20 worker processes (tests/concurrent_worker.py).
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.concurrent_worker",
        str(payload),
        str(WORKERS),
        cwd=ROOT,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=180)
        assert line.strip() == b"ready", (line, (await proc.stderr.read())[-2000:] if proc.stderr else b"")
        proc.stdin.write(b"go\n")  # every worker is ready: all go at once
        await proc.stdin.drain()
        out, err = await asyncio.wait_for(proc.communicate(), timeout=180)
    finally:
        if proc.returncode is None:
            proc.kill()
    assert proc.returncode == 0, err[-2000:]
    *lines, summary = out.decode().splitlines()
    codes = json.loads(summary)["codes"]
    assert len(codes) == WORKERS and set(codes) <= {0, 3}, (codes, err[-2000:])
    if 3 in codes:  # a worker lost a race and failed retriably: the platform retries it once more
        svc = await get_services()
        await ingest_payload(svc.push_deps(), records[0])

    rows = await incidents()
    assert len(rows) == 1, rows
    (inc,) = rows
    assert inc.kind == "integration_deleted" and inc.state == "notified"
    assert await _processed(sim, r"/sendMail$") == 1
    assert await _processed(sim, r"^/webexapis/v1/messages$") == 1
    reports = [json.loads(line) for line in lines]
    assert len(reports) == WORKERS and len({r["pid"] for r in reports}) == WORKERS, "20 processes, one line each"
    opened = sum("opened" in r.get("outcomes", []) for r in reports)
    # One worker opened it — or the one that inserted the row then failed retriably (its line is an
    # error, not outcomes; seen under load) and the platform's retry above finished its work.
    assert opened == 1 or (opened == 0 and any("error" in r for r in reports)), reports


async def test_two_writers_with_stale_etags_lose_nothing(sim: Any) -> None:
    from shared.app.push import ingest_payload
    from shared.app.runtime import Services, get_services

    svc = await get_services()
    records = await sim.delete("integration")
    await ingest_payload(svc.push_deps(), records[0])
    (inc,) = await incidents()
    other = Services(svc.settings, svc.storage)  # a second worker: its own clients and connections
    try:
        stale_a = await svc.store().get_open(inc.tenant_id, inc.app_key)
        stale_b = await other.store().get_open(inc.tenant_id, inc.app_key)
        assert stale_a is not None and stale_b is not None and stale_a.etag == stale_b.etag

        def adds(source: str) -> Any:
            def change(c: Any) -> Any:
                return None if source in c.sources else replace(c, sources=(*c.sources, source))

            return change

        # Both start from the same snapshot, as two workers that read at the same moment: the first
        # read of each writer is served the stale row, so the second writer's replace meets a 412.
        for store, stale in ((svc.store(), stale_a), (other.store(), stale_b)):
            real = store.get_open
            served = [stale]

            async def first_stale(tenant: str, app: str, real: Any = real, served: list[Any] = served) -> Any:
                return served.pop() if served else await real(tenant, app)

            store.get_open = first_stale  # type: ignore[method-assign]
        a = await svc.store().mutate(inc.tenant_id, inc.app_key, adds("writer-a"))
        b = await other.store().mutate(inc.tenant_id, inc.app_key, adds("writer-b"))
        assert a is not None and b is not None
        # Heavier contention: both writers at once, ten updates each. Too many conflicts in a row
        # fail the invocation retriably (ConflictExhaustedError); the platform runs it again.
        from shared.incidents.store import ConflictExhaustedError

        async def persist(store: Any, source: str) -> None:
            for _ in range(5):
                try:
                    await store.mutate(inc.tenant_id, inc.app_key, adds(source))
                    return
                except ConflictExhaustedError:
                    continue
            raise AssertionError(f"{source}: still conflicting after 5 invocations")

        await asyncio.gather(
            *(persist(svc.store(), f"a{i}") for i in range(10)),
            *(persist(other.store(), f"b{i}") for i in range(10)),
        )
    finally:
        await other.aclose()
    (final,) = await incidents()
    assert {"writer-a", "writer-b"} <= set(final.sources)
    assert {f"a{i}" for i in range(10)} | {f"b{i}" for i in range(10)} <= set(final.sources)


async def test_mutate_from_a_known_copy_never_trusts_it_blindly(sim: Any) -> None:
    """``mutate(known=…)`` skips the read only for a write the ETag still guards: a stale copy is
    refused by storage and re-read; a "nothing to do" seen on the copy is re-checked on a fresh read."""
    from shared.app.push import ingest_payload
    from shared.app.runtime import get_services

    svc = await get_services()
    store = svc.store()
    await ingest_payload(svc.push_deps(), (await sim.delete("integration"))[0])
    (inc,) = await incidents()
    stale = await store.get_open(inc.tenant_id, inc.app_key)
    assert stale is not None
    fresh = await store.mutate(inc.tenant_id, inc.app_key, lambda c: replace(c, sources=(*c.sources, "x")))
    assert fresh is not None and fresh.etag != stale.etag

    seen: list[tuple[str, ...]] = []

    def add_y(c: Any) -> Any:
        seen.append(c.sources)
        return replace(c, sources=(*c.sources, "y"))

    after = await store.mutate(inc.tenant_id, inc.app_key, add_y, known=stale)
    assert after is not None and {"x", "y"} <= set(after.sources)
    assert "x" not in seen[0] and "x" in seen[-1], "first tried on the copy, then on the re-read row"

    def only_once_x_is_there(c: Any) -> Any:
        return replace(c, reason="x seen") if "x" in c.sources else None

    done = await store.mutate(inc.tenant_id, inc.app_key, only_once_x_is_there, known=stale)
    assert done is not None and done.reason == "x seen", "a no-op decided on the stale copy is not believed"
    (final,) = await incidents()
    assert final.reason == "x seen" and {"x", "y"} <= set(final.sources)
