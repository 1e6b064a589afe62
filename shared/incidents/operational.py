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
from typing import TYPE_CHECKING

from shared.core.clock import clock, format_timestamp
from shared.core.logcontext import bind
from shared.notify.operational import OperationalNotice, render_operational

if TYPE_CHECKING:
    from shared.app.runtime import Services

log = logging.getLogger(__name__)

__all__ = ["OperationalNotice", "render_operational", "send_operational"]


def _marker(key: str) -> str:
    return "ops-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]


async def send_operational(svc: Services, notice: OperationalNotice, *, once_key: str | None = None) -> list[str]:
    """Send on every configured channel; returns the channels that accepted it. With ``once_key``,
    a second call with the same key sends nothing (returns ``[]``)."""
    from azure.core.exceptions import AzureError, ResourceExistsError

    from shared.clients.storage import table_client
    from shared.incidents.notices import channels_for

    table = table_client(svc.storage, svc.settings.incidents_table) if once_key else None
    marker = _marker(once_key) if once_key else None
    try:
        if table is not None and marker is not None:
            try:
                await table.create_entity(
                    {"PartitionKey": svc.settings.tenant_id, "RowKey": marker, "kind": notice.kind,
                     "at": format_timestamp(clock.now())}
                )  # fmt: skip
            except ResourceExistsError:
                return []
        sent: list[str] = []
        for channel in await channels_for(svc):
            try:
                result = await channel.send(render_operational(notice, channel.name, now=clock.now()))
            except Exception:  # one broken channel must not stop the others
                log.exception("operational notice %s failed on %s", notice.kind, channel.name)
                continue
            if result.ok:
                sent.append(channel.name)
            else:
                log.warning("operational notice %s failed on %s: %s", notice.kind, channel.name, result.error)
        if not sent and table is not None and marker is not None:
            try:
                await table.delete_entity(svc.settings.tenant_id, marker)
            except AzureError:
                log.warning("could not clear the marker of unsent notice %s", notice.kind)
        with bind(incident_id=notice.incident_id):
            log.info("operational notice %s sent on %s", notice.kind, ", ".join(sent) or "no channel")
        return sent
    finally:
        if table is not None:
            await table.close()
