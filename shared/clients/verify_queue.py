"""Verification-run messages on the Storage queue.

A message names one incident and the attempt it is for; the incident row keeps how many runs it has
had, so a duplicated or stale message (at-least-once delivery, an extra enqueue after a crash) is
recognised and dropped instead of doubling the runs. Backoff is the queue's visibility timeout:
nothing sleeps in-process.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from shared.core.errors import PayloadError, TransientError

if TYPE_CHECKING:
    from azure.storage.queue.aio import QueueClient

MAX_MESSAGE_BYTES = 16 * 1024
MAX_VISIBILITY_SECONDS = 7 * 24 * 3600 - 1  # the queue service's ceiling


@dataclass(frozen=True, slots=True)
class VerifyMessage:
    """One verification run for one incident. ``v`` versions the schema."""

    tenant_id: str
    app_key: str
    incident_id: str
    attempt: int
    v: int = 1

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> VerifyMessage:
        """Parse a queue body; a :class:`PayloadError` means the message is permanently bad."""
        if isinstance(text, bytes):
            if len(text) > MAX_MESSAGE_BYTES:
                raise PayloadError("verification message too large")
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError:
                raise PayloadError("verification message is not UTF-8") from None
        if len(text) > MAX_MESSAGE_BYTES:
            raise PayloadError("verification message too large")
        try:
            raw: Any = json.loads(text)
        except (ValueError, RecursionError):
            raise PayloadError("verification message is not JSON") from None
        if not isinstance(raw, dict):
            raise PayloadError("verification message must be a JSON object")
        problems = []
        for name in ("tenant_id", "app_key", "incident_id"):
            value = raw.get(name)
            if not isinstance(value, str) or not value or len(value) > 256:
                problems.append(name)
        attempt = raw.get("attempt")
        if not isinstance(attempt, int) or isinstance(attempt, bool) or not 0 <= attempt < 100_000:
            problems.append("attempt")
        if raw.get("v", 1) != 1:
            problems.append("v")
        if problems:
            raise PayloadError("verification message has invalid fields: " + ", ".join(problems))
        assert isinstance(attempt, int)
        return cls(tenant_id=raw["tenant_id"], app_key=raw["app_key"], incident_id=raw["incident_id"], attempt=attempt)


class VerifyQueue:
    """Sends verification messages, delayed by the visibility timeout."""

    def __init__(self, client: QueueClient) -> None:
        self._client = client

    async def ensure_queue(self) -> None:
        from azure.core.exceptions import ResourceExistsError

        with contextlib.suppress(ResourceExistsError):
            await self._client.create_queue()

    async def send(self, message: VerifyMessage, *, delay_seconds: float) -> None:
        from azure.core.exceptions import AzureError

        delay = int(min(max(delay_seconds, 0), MAX_VISIBILITY_SECONDS))
        try:
            await self._client.send_message(message.to_json(), visibility_timeout=delay)
        except AzureError as exc:
            raise TransientError(f"verification queue unavailable: {type(exc).__name__}") from exc

    async def receive(self, *, max_messages: int = 16, hold_seconds: int = 60) -> list[tuple[VerifyMessage, str]]:
        """Take visible messages off the queue (as the host does before calling the trigger); for
        the demo and tools that drive verification outside the Functions host. Bad bodies are
        deleted and skipped, like the trigger drops them."""
        from shared.clients.storage import take_messages
        from shared.core.errors import PayloadError

        out: list[tuple[VerifyMessage, str]] = []
        for body in await take_messages(
            self._client, "verification", max_messages=max_messages, hold_seconds=hold_seconds
        ):
            try:
                out.append((VerifyMessage.from_json(body), body))
            except PayloadError:
                continue
        return out

    async def close(self) -> None:
        await self._client.close()
