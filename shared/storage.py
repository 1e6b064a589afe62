"""Async clients for the storage account: the incidents table and the verification queue.

Locally (Azurite, tests, demo) a connection string; in Azure the Functions host's identity-based
connection (``AzureWebJobsStorage__accountName`` + managed identity) — the account has shared-key
access turned off. The queue client encodes messages as base64 because that is what the Functions
queue trigger expects by default (plain text fails every message, in production only).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.config import VERIFY_QUEUE, StorageConfig

if TYPE_CHECKING:
    from azure.data.tables.aio import TableClient
    from azure.storage.queue.aio import QueueClient


def _credential(cfg: StorageConfig) -> object:
    from azure.identity.aio import DefaultAzureCredential, ManagedIdentityCredential

    if cfg.client_id:
        return ManagedIdentityCredential(client_id=cfg.client_id)
    return DefaultAzureCredential()


def table_client(cfg: StorageConfig, table: str) -> TableClient:
    from azure.data.tables.aio import TableClient

    if cfg.connection_string:
        return TableClient.from_connection_string(cfg.connection_string, table_name=table)
    assert cfg.table_service_uri is not None
    return TableClient(endpoint=cfg.table_service_uri, table_name=table, credential=_credential(cfg))  # type: ignore[arg-type]


def queue_client(cfg: StorageConfig, queue: str = VERIFY_QUEUE, **options: Any) -> QueueClient:
    """``options`` go to the client (the intake queue shortens the SDK's 15 s first retry wait)."""
    from azure.storage.queue import TextBase64DecodePolicy, TextBase64EncodePolicy
    from azure.storage.queue.aio import QueueClient

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
