"""The Table and Queue clients read proxy and netrc settings from the environment only where it has
some (shared/clients/sdk_waits.py's ``clock_transport``, the same rule as the tenants' token session:
tests/unit/clients/test_env_settings.py). With azure-core's default (``use_env_settings``, aiohttp's
``trust_env``) every storage request looked the netrc file and the proxies up in a worker thread:
two thread hand-offs per request, ~5 % of a provider sweep's CPU. On Azurite: no hand-off without
settings, and a proxy named in the environment is still the way out."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.core.settings import StorageConfig


@pytest.fixture
def cfg(services_env: dict[str, str]) -> StorageConfig:
    return StorageConfig(connection_string=services_env["AzureWebJobsStorage"])


@pytest.fixture
def hand_offs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], int]]:
    """How many calls went to a worker thread (``asyncio.to_thread`` goes through the same method)."""
    calls: list[Any] = []
    real = asyncio.BaseEventLoop.run_in_executor

    def counting(self: Any, executor: Any, func: Any, *args: Any) -> Any:
        calls.append(func)
        return real(self, executor, func, *args)

    monkeypatch.setattr(asyncio.BaseEventLoop, "run_in_executor", counting)
    yield lambda: len(calls)


async def _storage_round_trips(cfg: StorageConfig) -> AsyncIterator[str]:
    """A few Table and Queue requests, yielding after the first of each (its connection is new)."""
    from shared.clients.storage import queue_client, table_client

    name = "env" + uuid.uuid4().hex[:12]
    async with table_client(cfg, name) as table, queue_client(cfg, name) as queue:
        await table.create_table()
        await queue.create_queue()
        yield "connected"
        try:
            await table.upsert_entity({"PartitionKey": "p", "RowKey": "r", "v": 1})
            assert (await table.get_entity("p", "r"))["v"] == 1
            await queue.send_message("hello")
            assert [m.content async for m in queue.receive_messages()] == ["hello"]
        finally:
            await table.delete_table()
            await queue.delete_queue()
    yield "done"


async def test_storage_requests_make_no_thread_hand_off_without_proxy_settings(
    bare_environment: Path, cfg: StorageConfig, hand_offs: Callable[[], int]
) -> None:
    steps = _storage_round_trips(cfg)
    assert await anext(steps) == "connected"
    before = hand_offs()
    assert await anext(steps) == "done"
    assert hand_offs() == before  # on azure-core's default: two a request


async def _recording_proxy(seen: list[bytes]) -> asyncio.Server:
    """A proxy that answers every request 403 after noting its request line."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readline())
        while (await reader.readline()).strip():
            pass
        writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    return await asyncio.start_server(serve, "127.0.0.1", 0)


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy"])  # Azurite is http:
async def test_a_proxy_in_the_environment_still_carries_the_storage_requests(
    bare_environment: Path, cfg: StorageConfig, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    from azure.core.exceptions import HttpResponseError

    from shared.clients.storage import queue_client, table_client

    seen: list[bytes] = []
    proxy = await _recording_proxy(seen)
    port = proxy.sockets[0].getsockname()[1]
    monkeypatch.setenv(variable, f"http://127.0.0.1:{port}")
    try:
        async with table_client(cfg, "viaproxy") as table, queue_client(cfg, "viaproxy") as queue:
            with pytest.raises(HttpResponseError):
                await table.get_entity("p", "r")
            with pytest.raises(HttpResponseError):
                await queue.get_queue_properties()
    finally:
        proxy.close()
        await proxy.wait_closed()
    # a request through a proxy names the whole URL: Azurite's table, then its queue endpoint
    assert len(seen) == 2, seen
    assert seen[0].startswith(b"GET http://127.0.0.1:") and b"/viaproxy(" in seen[0]
    assert seen[1].startswith(b"GET http://127.0.0.1:") and b"/viaproxy?" in seen[1]
