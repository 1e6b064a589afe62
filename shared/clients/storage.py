"""Async clients for the storage account: the incidents table and the verification queue.

Locally (Azurite, tests, demo) a connection string; in Azure the Functions host's identity-based
connection (``AzureWebJobsStorage__queueServiceUri`` / ``__tableServiceUri`` + managed identity) —
the account has shared-key access turned off. The queue client encodes messages as base64 because
that is what the Functions queue trigger expects by default (plain text fails every message, in
production only).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.clients.sdk_waits import clock_transport
from shared.core.settings import VERIFY_QUEUE, StorageConfig

if TYPE_CHECKING:
    from azure.data.tables.aio import TableClient
    from azure.storage.queue.aio import QueueClient

# The SDKs' own retries sleep in-process, far past what an invocation should wait: azure-core's
# policy (tables) honours any Retry-After exactly (a 429 with "Retry-After: 600" sleeps ten minutes)
# and backs off up to 120 s; the storage queue policy waits 15 s, 18 s, 24 s. Bounded here: no
# retry on an HTTP status at all (throttling or 5xx fails the invocation as a TransientError, and
# the platform retries it later), and a dropped connection is retried twice with short backoff.
# Those waits go through the project clock (shared.clients.sdk_waits): real in Azure, moved in tests.
_TABLE_RETRY: dict[str, Any] = {
    "retry_total": 2,
    "retry_status": 0,
    "retry_backoff_factor": 0.5,
    "retry_backoff_max": 4,
}


def _credential(cfg: StorageConfig) -> object:
    from azure.identity.aio import DefaultAzureCredential, ManagedIdentityCredential

    if cfg.client_id:
        return ManagedIdentityCredential(client_id=cfg.client_id)
    return DefaultAzureCredential()


def table_client(cfg: StorageConfig, table: str) -> TableClient:
    from azure.data.tables.aio import TableClient

    if cfg.connection_string:
        return TableClient.from_connection_string(
            cfg.connection_string, table_name=table, transport=clock_transport(), **_TABLE_RETRY
        )
    assert cfg.table_service_uri is not None
    return TableClient(
        endpoint=cfg.table_service_uri,
        table_name=table,
        credential=_credential(cfg),  # type: ignore[arg-type]
        transport=clock_transport(),
        **_TABLE_RETRY,
    )


def _queue_retry() -> object:
    """At most two retries, after ~1 s and ~3 s (the storage policy retries 408/5xx and resets)."""
    # The async client needs the async policy, which only the package's _shared module exports.
    from azure.storage.queue._shared.policies_async import ExponentialRetry

    return ExponentialRetry(initial_backoff=1, increment_base=2, retry_total=2, random_jitter_range=1)


def queue_client(cfg: StorageConfig, queue: str = VERIFY_QUEUE, **options: Any) -> QueueClient:
    """``options`` go to the client; without a ``retry_policy`` the bounded one below is used."""
    from azure.storage.queue import TextBase64DecodePolicy, TextBase64EncodePolicy
    from azure.storage.queue.aio import QueueClient

    options.setdefault("retry_policy", _queue_retry())
    options.setdefault("transport", clock_transport())  # the retry waits read the project clock
    encode, decode = TextBase64EncodePolicy(), TextBase64DecodePolicy()
    if cfg.connection_string:
        return QueueClient.from_connection_string(
            cfg.connection_string,
            queue_name=queue,
            message_encode_policy=encode,
            message_decode_policy=decode,
            **options,
        )
    assert cfg.queue_service_uri is not None
    return QueueClient(
        account_url=cfg.queue_service_uri,
        queue_name=queue,
        credential=_credential(cfg),  # type: ignore[arg-type]
        message_encode_policy=encode,
        message_decode_policy=decode,
        **options,
    )


async def take_messages(client: QueueClient, label: str, *, max_messages: int, hold_seconds: int) -> list[str]:
    """Take the visible messages off a queue as the Functions host does before calling a queue
    trigger (received, then deleted), returning their decoded bodies; for the demo and tools that
    run the app's work outside the host. A storage failure is transient."""
    from azure.core.exceptions import AzureError

    from shared.core.errors import TransientError

    bodies: list[str] = []
    try:
        async for m in client.receive_messages(
            messages_per_page=max_messages, visibility_timeout=hold_seconds, max_messages=max_messages
        ):
            bodies.append(m.content)
            await client.delete_message(m)
    except AzureError as exc:
        raise TransientError(f"{label} queue unavailable: {type(exc).__name__}") from exc
    return bodies
