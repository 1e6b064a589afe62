"""Helpers for integration tests: real azure.functions objects and the real queue."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from datetime import UTC, datetime
from typing import Any

import azure.functions as func


def eventgrid_event(
    data: Any, *, event_id: str | None = None, event_type: str = "Webex.AuditRecord"
) -> func.EventGridEvent:
    return func.EventGridEvent(
        id=event_id or str(uuid.uuid4()),
        data=data,
        topic="/subscriptions/0000/resourceGroups/rg/providers/Microsoft.EventGrid/topics/audit",
        subject="auditLogs/directoryAudits",
        event_type=event_type,
        event_time=datetime.now(UTC),
        data_version="1.0",
    )


def http_request(body: bytes, *, content_type: str = "application/json") -> func.HttpRequest:
    return func.HttpRequest(
        method="POST", url="https://app.example/api/alerts?code=k", headers={"content-type": content_type}, body=body
    )


async def receive_verify_messages(wait: float = 6.0, expect: int = 1) -> list[func.QueueMessage]:
    """Wait for verification messages to become visible and take them off the queue, as the host
    would, returning them as ``func.QueueMessage`` (body already base64-decoded by the client)."""
    from azure.storage.queue import TextBase64DecodePolicy
    from azure.storage.queue.aio import QueueClient

    out: list[func.QueueMessage] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    async with QueueClient.from_connection_string(
        os.environ["AzureWebJobsStorage"], "webex-verify", message_decode_policy=TextBase64DecodePolicy()
    ) as q:
        while loop.time() < deadline and len(out) < expect:
            async for m in q.receive_messages(messages_per_page=32, visibility_timeout=60):
                out.append(func.QueueMessage(id=m.id, body=m.content.encode(), pop_receipt=m.pop_receipt))
                await q.delete_message(m)
            if len(out) < expect:
                await asyncio.sleep(0.25)
    return out


async def raw_queue_bodies() -> list[str]:
    """Peek the raw (still base64) queue bodies, to prove the host's encoding is used."""
    from azure.storage.queue.aio import QueueClient

    async with QueueClient.from_connection_string(os.environ["AzureWebJobsStorage"], "webex-verify") as q:
        return [m.content for m in await q.peek_messages(max_messages=32)]


async def incidents() -> list[Any]:
    from shared.runtime import get_services

    svc = await get_services()
    return await svc.store().list_incidents(svc.settings.tenant_id)


def dumps(obj: Any) -> bytes:
    return json.dumps(obj).encode()
