"""Helpers for integration tests: real azure.functions objects and the real queue."""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from dataclasses import dataclass
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


@dataclass
class Sent:
    """A message the code under test put on a queue (recorded by :func:`record_sends`): enough to
    make it visible early with the SDK's ``update_message``."""

    queue: str
    id: str
    pop_receipt: str
    visible_at: datetime


SENT: list[Sent] = []
"""Messages sent in this test and not yet taken; the ``sim`` fixture clears it."""


def record_sends(monkeypatch: Any) -> None:
    """Record every ``QueueClient.send_message`` (azure-storage-queue, async) of this process, so the
    queue helpers can skip a visibility timeout instead of waiting for Azurite's timer."""
    from azure.storage.queue.aio import QueueClient

    real_send = QueueClient.send_message
    SENT.clear()

    async def send_message(self: QueueClient, *args: Any, **kwargs: Any) -> Any:
        message = await real_send(self, *args, **kwargs)
        if message.pop_receipt and message.next_visible_on:  # always, for a message Azurite accepted
            SENT.append(Sent(self.queue_name, message.id, message.pop_receipt, message.next_visible_on))
        return message

    monkeypatch.setattr(QueueClient, "send_message", send_message)


async def _skip_to_due(q: Any, queue: str, within: float) -> float | None:
    """Virtual time for a delayed message: if a message recorded on ``queue`` would turn visible in
    the next ``within`` seconds, make it (and any due by then) visible now with ``update_message`` and
    move the project clock and the simulator's clock on by as long as it still had to wait (returned).
    ``None``: no recorded message is due in that time."""
    from azure.core.exceptions import HttpResponseError

    from shared.core.clock import clock

    while True:
        now = datetime.now(UTC)
        pending = sorted((s for s in SENT if s.queue == queue), key=lambda s: s.visible_at)
        if not pending or (pending[0].visible_at - now).total_seconds() > within:
            return None
        until = pending[0].visible_at
        shown = 0
        for sent in pending:
            if sent.visible_at > until:
                break
            SENT.remove(sent)
            with contextlib.suppress(HttpResponseError):  # already taken (404) or held by a reader (400)
                await q.update_message(sent.id, sent.pop_receipt, visibility_timeout=0)
                shown += 1
        if shown:
            skip = max((until - now).total_seconds(), 0.0)
            if skip:
                clock.advance(skip)
                await _advance_simulator(skip)
            return skip


async def _advance_simulator(seconds: float) -> None:
    from simulator.client import SimulatorControl

    url = os.environ.get("SIMULATOR_URL")
    if url:
        async with SimulatorControl(url, verify=os.environ.get("SSL_CERT_FILE") or True) as control:
            await control.advance_clock(seconds)


def _forget(queue: str, message_id: str) -> None:
    SENT[:] = [s for s in SENT if not (s.queue == queue and s.id == message_id)]


async def receive_messages(queue: str, *, wait: float = 6.0, expect: int = 1) -> list[func.QueueMessage]:
    """Take up to ``expect`` visible messages off ``queue``, decoded from base64 as the host decodes
    them. A message sent in this test that would turn visible within ``wait`` seconds is made visible
    at once, the clocks moved on as if that time had passed (:func:`_skip_to_due`); when no such
    message is left, what is visible is the answer (no real waiting)."""
    from azure.core.exceptions import ResourceNotFoundError
    from azure.storage.queue import TextBase64DecodePolicy
    from azure.storage.queue.aio import QueueClient

    out: list[func.QueueMessage] = []
    budget = wait
    async with QueueClient.from_connection_string(
        os.environ["AzureWebJobsStorage"], queue, message_decode_policy=TextBase64DecodePolicy()
    ) as q:
        while True:
            try:
                async for m in q.receive_messages(messages_per_page=32, visibility_timeout=60):
                    out.append(func.QueueMessage(id=m.id, body=m.content.encode(), pop_receipt=m.pop_receipt))
                    await q.delete_message(m)
                    _forget(queue, m.id)
            except ResourceNotFoundError:
                pass  # nothing was ever sent to it
            if len(out) >= expect:
                return out
            started = datetime.now(UTC)
            skipped = await _skip_to_due(q, queue, budget)
            if skipped is None:
                return out
            budget -= skipped + (datetime.now(UTC) - started).total_seconds()


async def raw_queue_bodies(queue: str = "webex-verify", *, wait: float = 0.0) -> list[str]:
    """Peek the raw (still base64) queue bodies, to prove the host's encoding is used; with ``wait``,
    until one is visible (a delayed message sent in this test is made visible at once, as in
    :func:`receive_messages`)."""
    from azure.core.exceptions import ResourceNotFoundError
    from azure.storage.queue.aio import QueueClient

    async with QueueClient.from_connection_string(os.environ["AzureWebJobsStorage"], queue) as q:
        while True:
            try:
                bodies = [m.content for m in await q.peek_messages(max_messages=32)]
            except ResourceNotFoundError:  # never written to: nothing queued
                bodies = []
            if bodies or await _skip_to_due(q, queue, wait) is None:
                return bodies


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
