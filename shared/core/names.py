"""Names the trigger bindings and the core must agree on (queues, the storage connection).

Kept apart from :mod:`shared.core.settings` so that ``function_app`` can declare its bindings without
importing pydantic (≈150 ms of a cold start): ``functions/`` import these names from here, and
:mod:`shared.core.settings` re-exports them for the core.
"""

from __future__ import annotations

VERIFY_QUEUE = "webex-verify"
"""Verification queue; the queue trigger binds to the same constant (poison queue: ``-poison``)."""

INTAKE_QUEUE = "webex-intake"
"""Durable intake: the Event Grid and alert triggers enqueue here and answer at once; the intake
queue trigger does the Graph / Table / Log Analytics / notification work (poison: ``-poison``)."""

SWEEP_QUEUE = "webex-tenant-sweep"
"""Provider mode (issue 17): one message per tenant to sweep, base64 like the others."""

SWEEP_POISON_QUEUE = f"{SWEEP_QUEUE}-poison"
"""Where the queue extension moves a tenant's sweep message after ``MAX_DEQUEUE_COUNT`` failures; its
watcher records the tenant unreachable for the provider's digest (:mod:`shared.app.sweep_poison`)."""

MAX_DEQUEUE_COUNT = 5
"""host.json ``extensions.queues.maxDequeueCount``: the attempts a queue message gets before the
extension moves it to ``<queue>-poison`` (a test keeps the two equal). What the poison notice says:
the poison *copy*'s own ``DequeueCount`` is 1 (the extension inserts a new message), never the
attempts it took."""

POISON_QUEUE = f"{VERIFY_QUEUE}-poison"
"""Where the queue extension moves a verification message after ``MAX_DEQUEUE_COUNT`` failures."""

STORAGE_CONNECTION = "AzureWebJobsStorage"
"""The host's own storage connection, reused for incidents and the queue (identity-based in Azure)."""
