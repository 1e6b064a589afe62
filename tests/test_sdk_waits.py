"""The Azure SDKs' retry waits go through the project clock: real in production, moved in tests.

Each client is pointed at a loopback port nothing listens on (connections are refused), so its SDK
retry policy retries the dropped connection as it would in Azure. The waits it asks for are the
production ones (asserted as numbers); the suite does not sleep them.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

REFUSED = "http://127.0.0.1:9"  # the discard port: nothing listens on loopback
REFUSED_TLS = "https://127.0.0.1:9"  # bearer tokens and authorities want https; refused before TLS
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
CONN = (
    f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={ACCOUNT_KEY};"
    f"TableEndpoint={REFUSED}/devstoreaccount1;QueueEndpoint={REFUSED}/devstoreaccount1;"
)


def _storage() -> Any:
    from shared.core.settings import StorageConfig

    return StorageConfig(connection_string=CONN)


async def test_table_retries_wait_on_the_clock(clock_waits: list[float]) -> None:
    from azure.core.exceptions import ServiceRequestError

    from shared.clients.storage import table_client

    started = time.monotonic()
    async with table_client(_storage(), "incidents") as table:
        with pytest.raises(ServiceRequestError):
            await table.get_entity("t", "r")
    # azure-core's backoff: none before the first retry, then factor 0.5 x 2^1 (retry_total 2).
    assert clock_waits == [1.0]
    assert time.monotonic() - started < 0.9, "the second retry's second was not slept"


async def test_queue_retries_wait_on_the_clock(clock_waits: list[float]) -> None:
    from azure.core.exceptions import ServiceRequestError

    from shared.clients.storage import queue_client

    started = time.monotonic()
    async with queue_client(_storage(), "webex-verify") as queue:
        with pytest.raises(ServiceRequestError):
            await queue.send_message("x")
    # The storage policy: initial 1 s + 2^count, jitter +-1 s, two retries.
    assert len(clock_waits) == 2, clock_waits
    assert 2.0 <= clock_waits[0] <= 4.0 and 4.0 <= clock_waits[1] <= 6.0, clock_waits
    assert time.monotonic() - started < 2.0


async def test_in_production_the_clock_sleeps_the_same_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a test sleeper (production) the transport sleeps for real, the seconds it was asked."""
    from shared.clients.sdk_waits import ClockSleep, clock_transport
    from shared.core.clock import clock

    slept: list[float] = []

    async def real_sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(clock, "sleeper", None)
    monkeypatch.setattr(asyncio, "sleep", real_sleep)
    before = clock.monotonic() - time.monotonic()
    transport = clock_transport()
    await transport.sleep(2.5)
    await ClockSleep().sleep(0.75)
    assert slept == [2.5, 0.75]
    assert clock.monotonic() - time.monotonic() - before < 0.5, "the clock itself was not moved"


def test_production_retry_bounds() -> None:
    """The bounds each client is built with (the waits above follow from them)."""
    from shared.clients import loganalytics, storage

    table = storage._TABLE_RETRY
    assert table == {"retry_total": 2, "retry_status": 0, "retry_backoff_factor": 0.5, "retry_backoff_max": 4}
    assert loganalytics._SDK_RETRY == storage._TABLE_RETRY
    queue = storage._queue_retry()
    assert (queue.initial_backoff, queue.increment_base, queue.total_retries, queue.random_jitter_range) == (
        1,
        2,
        2,
        1,
    )
