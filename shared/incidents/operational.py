"""Operational notices: problems with the remediator itself, not with a Webex app.

Two things need a person although no Webex app is broken: the project's own Webex authorization
expired (only a Control Hub admin can re-authorize the service app), and a verification message
that failed five times landed in the poison queue (an incident would otherwise wait silently).
Both go to the same configured channels as incident notices, rendered by
:mod:`shared.notify.operational` (the same templates and per-channel escaping as incident notices).

"Once" is a marker row in the incidents table, created insert-if-absent before sending: the health
timer may meet the same expired token every minute and must not mail the admins every minute. If no
channel accepted the notice the marker is removed again, so the next occurrence tries once more.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.core.clock import clock, format_timestamp
from shared.core.logcontext import bind
from shared.notify.operational import OperationalNotice, render_operational

if TYPE_CHECKING:
    from shared.clients.table import Table
    from shared.notify.view import NoticeTenant

log = logging.getLogger(__name__)

__all__ = ["OperationalDeps", "OperationalNotice", "render_operational", "send_operational"]


def _marker(key: str) -> str:
    return "ops-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]


@dataclass(frozen=True, slots=True)
class OperationalDeps:
    """What sending an operational notice uses: the tenant (the marker rows' partition), the one
    table (the "once" markers) and the configured channels, built on first use."""

    tenant_id: str
    table: Table
    channels: Callable[[], Awaitable[Sequence[Any]]]
    tenant: NoticeTenant | None = None  # provider mode: the customer tenant, named in the notice


async def send_operational(
    deps: OperationalDeps, notice: OperationalNotice, *, once_key: str | None = None
) -> list[str]:
    """Send on every configured channel; returns the channels that accepted it. With ``once_key``,
    a second call with the same key sends nothing (returns ``[]``)."""
    from shared.core.errors import TransientError

    marker = _marker(once_key) if once_key else None
    if marker is not None:
        row = {
            "PartitionKey": deps.tenant_id,
            "RowKey": marker,
            "kind": notice.kind,
            "at": format_timestamp(clock.now()),
        }
        if await deps.table.insert(row) is None:
            return []
    sent: list[str] = []
    for channel in await deps.channels():
        try:
            result = await channel.send(render_operational(notice, channel.name, now=clock.now(), tenant=deps.tenant))
        except Exception:  # one broken channel must not stop the others
            log.exception("operational notice %s failed on %s", notice.kind, channel.name)
            continue
        if result.ok:
            sent.append(channel.name)
        else:
            log.warning("operational notice %s failed on %s: %s", notice.kind, channel.name, result.error)
    if not sent and marker is not None:
        try:
            await deps.table.delete(deps.tenant_id, marker)
        except TransientError:
            log.warning("could not clear the marker of unsent notice %s", notice.kind)
    with bind(incident_id=notice.incident_id):
        log.info("operational notice %s sent on %s", notice.kind, ", ".join(sent) or "no channel")
    return sent
