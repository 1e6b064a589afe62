"""The ``webex-tenant-sweep`` Storage queue (provider mode): one message per tenant to sweep.

A message is ``{"v": 1, "tenant_id": <GUID>, "sweep_id": <the timer tick's time>}`` as JSON, base64
like the other queues (the host's default ``messageEncoding``). :meth:`SweepMessage.from_json` is the
queue trigger's parser: anything malformed, truncated, oversized or hostile is a
:class:`~shared.core.errors.PayloadError` (the trigger logs and drops it; retrying cannot fix it).

Every message lives at most :data:`MESSAGE_TTL`: a message the sweep did not take by then is
superseded by a later tick's (the timer re-sends a tenant whose message is older than that,
:mod:`shared.app.tenant_sweep`), so stale messages expire instead of piling up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from shared.core.clock import format_timestamp, parse_timestamp
from shared.core.errors import PayloadError, TransientError

if TYPE_CHECKING:
    from azure.storage.queue.aio import QueueClient

MAX_MESSAGE_BYTES = 4096
MESSAGE_TTL = timedelta(minutes=10)
"""As long as ``functionTimeout`` (host.json): long enough for the queue's retries of a transient
failure (visibility timeout 30 s, 5 attempts), short enough that a tenant whose sweep message was
poisoned or lost is sent again within ten minutes."""
DEFAULT_CONCURRENCY = 32
"""Messages sent at once by :meth:`SweepQueue.send_all` (a put takes ~10 ms: 1,000 tenants ≈ 0.3 s)."""


@dataclass(frozen=True, slots=True)
class SweepMessage:
    """Sweep ``tenant_id`` (its lower-case GUID) for the tick ``sweep_id`` (ISO time, UTC)."""

    tenant_id: str
    sweep_id: str
    v: int = 1

    def to_json(self) -> str:
        return json.dumps({"v": self.v, "tenant_id": self.tenant_id, "sweep_id": self.sweep_id}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> SweepMessage:
        """Parse a queue body; a :class:`PayloadError` means the message is permanently bad."""
        from shared.core.tenant import TenantError, tenant_guid

        if len(text) > MAX_MESSAGE_BYTES:
            raise PayloadError("sweep message too large")
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError:
                raise PayloadError("sweep message is not UTF-8") from None
        try:
            raw: Any = json.loads(text)
        except (ValueError, RecursionError):
            raise PayloadError("sweep message is not JSON") from None
        if not isinstance(raw, dict):
            raise PayloadError("sweep message must be a JSON object")
        problems: list[str] = []
        try:
            tenant = tenant_guid(raw.get("tenant_id"))
        except TenantError:
            problems.append("tenant_id")
        stamp = raw.get("sweep_id")
        when = parse_timestamp(stamp) if isinstance(stamp, str) else None
        if when is None:
            problems.append("sweep_id")
        if raw.get("v", 1) != 1 or isinstance(raw.get("v"), bool):
            problems.append("v")
        if problems:
            raise PayloadError("sweep message has invalid fields: " + ", ".join(problems))
        assert when is not None
        return cls(tenant_id=tenant, sweep_id=format_timestamp(when))


class SweepQueue:
    """Sends (and, for tools and the bench, receives) sweep messages."""

    def __init__(self, client: QueueClient) -> None:
        self._client = client

    async def ensure_queue(self) -> None:
        from azure.core.exceptions import ResourceExistsError

        with contextlib.suppress(ResourceExistsError):
            await self._client.create_queue()

    async def send(self, message: SweepMessage) -> None:
        """One message, expiring after :data:`MESSAGE_TTL`; a queue missing locally is created."""
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        ttl = int(MESSAGE_TTL.total_seconds())
        try:
            try:
                await self._client.send_message(message.to_json(), time_to_live=ttl)
            except ResourceNotFoundError:
                await self.ensure_queue()
                await self._client.send_message(message.to_json(), time_to_live=ttl)
        except AzureError as exc:
            raise TransientError(f"sweep queue unavailable: {type(exc).__name__}") from exc

    async def send_all(
        self, messages: Sequence[SweepMessage], *, concurrency: int = DEFAULT_CONCURRENCY
    ) -> list[SweepMessage | TransientError]:
        """Send every message, at most ``concurrency`` at once. Returns, in order, each message sent
        or the error that stopped it: one failed put does not stop the others."""
        gate = asyncio.Semaphore(max(1, concurrency))

        async def one(message: SweepMessage) -> SweepMessage | TransientError:
            async with gate:
                try:
                    await self.send(message)
                except TransientError as exc:
                    return exc
                return message

        return list(await asyncio.gather(*(one(m) for m in messages)))

    async def receive(self, *, max_messages: int = 32, hold_seconds: int = 60) -> list[str]:
        """Take visible messages off the queue as the host does before calling the sweep trigger
        (deleted), returning their text; for the bench and tools that sweep outside the host."""
        from shared.clients.storage import take_messages

        return await take_messages(self._client, "sweep", max_messages=max_messages, hold_seconds=hold_seconds)

    async def close(self) -> None:
        await self._client.close()
