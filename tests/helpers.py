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
    return await receive_messages("webex-verify", wait=wait, expect=expect)


async def receive_messages(queue: str, *, wait: float = 6.0, expect: int = 1) -> list[func.QueueMessage]:
    """Take up to ``expect`` visible messages off ``queue`` (waiting up to ``wait`` seconds), decoded
    from base64 as the host decodes them."""
    from azure.core.exceptions import ResourceNotFoundError
    from azure.storage.queue import TextBase64DecodePolicy
    from azure.storage.queue.aio import QueueClient

    out: list[func.QueueMessage] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    async with QueueClient.from_connection_string(
        os.environ["AzureWebJobsStorage"], queue, message_decode_policy=TextBase64DecodePolicy()
    ) as q:
        while True:
            try:
                async for m in q.receive_messages(messages_per_page=32, visibility_timeout=60):
                    out.append(func.QueueMessage(id=m.id, body=m.content.encode(), pop_receipt=m.pop_receipt))
                    await q.delete_message(m)
            except ResourceNotFoundError:
                pass  # nothing was ever sent to it
            if len(out) >= expect or loop.time() >= deadline:
                return out
            await asyncio.sleep(0.1)  # a message due in 1 s is taken within 0.1 s of it


async def raw_queue_bodies(queue: str = "webex-verify", *, wait: float = 0.0) -> list[str]:
    """Peek the raw (still base64) queue bodies, to prove the host's encoding is used; with ``wait``,
    until one is visible (a delayed message) or ``wait`` seconds have passed."""
    from azure.core.exceptions import ResourceNotFoundError
    from azure.storage.queue.aio import QueueClient

    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    async with QueueClient.from_connection_string(os.environ["AzureWebJobsStorage"], queue) as q:
        while True:
            try:
                bodies = [m.content for m in await q.peek_messages(max_messages=32)]
            except ResourceNotFoundError:  # never written to: nothing queued
                bodies = []
            if bodies or loop.time() >= deadline:
                return bodies
            await asyncio.sleep(0.1)


async def run_intake(app_functions: dict[str, Any], *, concurrent: bool = False) -> int:
    """Play the host for the intake queue: take every message the push triggers wrote and call the
    intake function with it as a real ``func.QueueMessage``. Returns how many were processed.
    ``concurrent`` hands a batch to the function all at once, as several instances would."""
    import asyncio

    handler = app_functions["intake_process"].get_user_function()
    done = 0
    while True:
        batch = await receive_messages("webex-intake", wait=0, expect=32)
        if not batch:
            return done
        if concurrent:
            await asyncio.gather(*(handler(msg) for msg in batch))
            done += len(batch)
            continue
        for msg in batch:
            await handler(msg)
            done += 1


async def deliver_event(app_functions: dict[str, Any], record: dict[str, Any]) -> None:
    """One Event Grid delivery of ``record`` as the host makes it, then the intake queue's run."""
    await app_functions["eventgrid_audit"].get_user_function()(eventgrid_event(record))
    await run_intake(app_functions)


async def incidents() -> list[Any]:
    from shared.app.runtime import get_services

    svc = await get_services()
    return await svc.store().list_incidents(svc.settings.tenant_id)


def dumps(obj: Any) -> bytes:
    return json.dumps(obj).encode()
