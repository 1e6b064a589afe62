"""A queue listener that behaves like the Functions host's queue extension, for benches.

Tests and benches call the registered queue-trigger functions without the host. To measure what one
instance does with a queue full of messages, this listener takes them off the real (Azurite) queue
the way the extension does (learn.microsoft.com/azure/azure-functions/functions-bindings-storage-queue,
host.json section):

- it gets up to ``batchSize`` messages at a time and runs them concurrently, and gets the next batch
  when the messages still running fall to ``newBatchThreshold`` — so at most ``batchSize +
  newBatchThreshold`` run at once on one instance;
- each message is hidden for ``visibilityTimeout`` while it runs, decoded as host.json's
  ``messageEncoding`` says (base64) and handed to the function as a real ``func.QueueMessage``
  (id, body, dequeue count, pop receipt);
- a run that returns deletes the message; a run that raises leaves it to come back after the
  visibility timeout, and after ``maxDequeueCount`` attempts a copy goes to ``<queue>-poison``.

It stops when a get finds nothing and nothing is running (a message hidden for later is not waited
for). Every run is recorded (:class:`Run`) so a bench can say which message waited on which.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from azure.storage.queue.aio import QueueClient

MAX_GET = 32
"""A Storage queue hands out at most 32 messages per get."""
HIDDEN_WHILE_RUNNING = 600
"""Seconds a message stays hidden while its run lasts (the host renews it up to ``functionTimeout``)."""


@dataclass(frozen=True, slots=True)
class HostQueueSettings:
    """host.json's ``extensions.queues`` as the extension reads it (its defaults where absent)."""

    batch_size: int = 16
    new_batch_threshold: int = 8
    visibility_timeout: timedelta = timedelta(0)
    max_dequeue_count: int = 5
    base64: bool = True

    @property
    def concurrency(self) -> int:
        return self.batch_size + self.new_batch_threshold

    @classmethod
    def from_host_json(cls, path: str | Path = "host.json") -> HostQueueSettings:
        queues = json.loads(Path(path).read_text(encoding="utf-8")).get("extensions", {}).get("queues", {})
        batch = int(queues.get("batchSize", 16))
        return cls(
            batch_size=batch,
            new_batch_threshold=int(queues.get("newBatchThreshold", batch // 2)),
            visibility_timeout=_timespan(queues.get("visibilityTimeout", "00:00:00")),
            max_dequeue_count=int(queues.get("maxDequeueCount", 5)),
            base64=str(queues.get("messageEncoding", "base64")).lower() == "base64",
        )


def _timespan(text: str) -> timedelta:
    hours, minutes, seconds = (float(part) for part in str(text).split(":"))
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)


@dataclass(frozen=True, slots=True)
class Run:
    """One invocation: the message's body, when it started and ended (``perf_counter`` seconds),
    its dequeue count, and the error it raised (``None``: it returned and the message was deleted)."""

    body: bytes
    started: float
    ended: float
    dequeue_count: int
    error: str | None

    @property
    def seconds(self) -> float:
        return self.ended - self.started


class HostQueueListener:
    """Drain one queue into one queue-triggered function, as one instance of the host would."""

    def __init__(
        self,
        queue: QueueClient,
        function: Callable[[Any], Awaitable[None]],
        settings: HostQueueSettings,
        *,
        poison: QueueClient | None = None,
    ) -> None:
        if settings.batch_size < 1 or settings.batch_size > MAX_GET or settings.new_batch_threshold < 0:
            raise ValueError("batchSize is 1 to 32 and newBatchThreshold 0 or more")
        self._queue = queue
        self._function = function
        self._settings = settings
        self._poison = poison
        self.runs: list[Run] = []
        self.peak_in_flight = 0

    async def drain(self) -> list[Run]:
        """Run every message now visible (and those that become visible while others run)."""
        running: set[asyncio.Task[None]] = set()
        while True:
            got: list[Any] = []
            if len(running) <= self._settings.new_batch_threshold:
                got = await self._get(self._settings.batch_size)
                running.update(asyncio.create_task(self._invoke(message)) for message in got)
                self.peak_in_flight = max(self.peak_in_flight, len(running))
            if not running:
                return self.runs
            if not got or len(running) > self._settings.new_batch_threshold:
                _, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)

    async def _get(self, count: int) -> list[Any]:
        pager = self._queue.receive_messages(
            messages_per_page=count, max_messages=count, visibility_timeout=HIDDEN_WHILE_RUNNING
        )
        return [message async for message in pager]

    async def _invoke(self, message: Any) -> None:
        import azure.functions.queue as fq

        body = message.content if isinstance(message.content, bytes) else str(message.content).encode()
        argument = fq.QueueMessage(  # type: ignore[no-untyped-call]
            id=message.id,
            body=body,
            dequeue_count=message.dequeue_count,
            expiration_time=message.expires_on,
            insertion_time=message.inserted_on,
            time_next_visible=message.next_visible_on,
            pop_receipt=message.pop_receipt,
        )
        started = time.perf_counter()
        try:
            await self._function(argument)
        except Exception as exc:  # the host records any failure and retries the message
            self.runs.append(
                Run(body, started, time.perf_counter(), message.dequeue_count, f"{type(exc).__name__}: {exc}"[:300])
            )
            await self._failed(message)
            return
        self.runs.append(Run(body, started, time.perf_counter(), message.dequeue_count, None))
        await self._queue.delete_message(message)

    async def _failed(self, message: Any) -> None:
        if message.dequeue_count >= self._settings.max_dequeue_count and self._poison is not None:
            await self._poison.send_message(message.content)  # a copy; its own dequeue count starts at 1
            await self._queue.delete_message(message)
            return
        seconds = int(self._settings.visibility_timeout.total_seconds())
        await self._queue.update_message(message, pop_receipt=message.pop_receipt, visibility_timeout=seconds)


def queue_client(connection_string: str, name: str, *, base64: bool = True) -> QueueClient:
    """A queue client that reads and writes bodies as the host does (base64 unless host.json says none)."""
    from azure.storage.queue import BinaryBase64DecodePolicy, BinaryBase64EncodePolicy
    from azure.storage.queue.aio import QueueClient

    if not base64:
        return QueueClient.from_connection_string(connection_string, name)
    return QueueClient.from_connection_string(
        connection_string,
        name,
        message_encode_policy=BinaryBase64EncodePolicy(),
        message_decode_policy=BinaryBase64DecodePolicy(),
    )
