"""The ``webex-intake`` Storage queue: the one write a push trigger does before it answers.

The client sends and receives message *text*; what the text says (:class:`shared.detect.intake.IntakeMessage`,
its ``to_json`` / ``from_json``) is the detect layer's. Base64 like the verification queue (the host's
default ``messageEncoding``). The queue is created by
the Bicep; if it is missing (a local run, a fresh Azurite) the first send creates it and resends,
so the trigger path costs one request per message, not a create-queue call per process start.
A failed write is a :class:`TransientError`: the Event Grid trigger raises (Event Grid retries) and
the alert endpoint answers 503 (the action group retries).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import TYPE_CHECKING

from shared.core.errors import TransientError

if TYPE_CHECKING:
    from azure.storage.queue.aio import QueueClient


class IntakeQueue:
    def __init__(self, client: QueueClient) -> None:
        self._client = client

    async def send(self, body: str) -> None:
        """Write one message's text (the SDK's policy base64-encodes it)."""
        from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError

        try:
            try:
                await self._client.send_message(body)
            except ResourceNotFoundError:
                with contextlib.suppress(ResourceExistsError):
                    await self._client.create_queue()
                await self._client.send_message(body)
        except AzureError as exc:
            raise TransientError(f"intake queue unavailable: {type(exc).__name__}") from exc

    async def send_all(self, bodies: Iterable[str]) -> None:
        """Send every message; a failure raises (the sender's retry resends all: the queue
        function's dedupe makes the repeats harmless)."""
        for body in bodies:
            await self.send(body)

    async def receive(self, *, max_messages: int = 16, hold_seconds: int = 60) -> list[str]:
        """Take visible messages off the queue as the host does before calling the intake trigger
        (they are deleted), and return their text; for the demo and tools that run the app's work
        outside the Functions host (:func:`shared.detect.intake.decode_all` reads them)."""
        from shared.clients.storage import take_messages

        return await take_messages(self._client, "intake", max_messages=max_messages, hold_seconds=hold_seconds)

    async def close(self) -> None:
        await self._client.close()
