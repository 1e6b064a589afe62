"""Operational notices: problems with the remediator itself, not with a Webex app.

Two things need a person although no Webex app is broken: the project's own Webex authorization
expired (only a Control Hub admin can re-authorize the service app), and a verification message
that failed five times landed in the poison queue (an incident would otherwise wait silently).
Both go to the same configured channels as incident notices, in a short fixed format.

"Once" is a marker row in the incidents table, created insert-if-absent before sending: the health
timer may meet the same expired token every minute and must not mail the admins every minute. If no
channel accepted the notice the marker is removed again, so the next occurrence tries once more.
"""

from __future__ import annotations

import hashlib
import html
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.core.clock import clock, format_timestamp
from shared.core.logcontext import bind
from shared.notify.escape import card_md, clean, clip, plain, subject_line, webex_md

if TYPE_CHECKING:
    from shared.clients.table import Table
    from shared.notify.render import Rendered

log = logging.getLogger(__name__)

SCHEMA = "webex-sync-remediator/operational@1"
_LINE_LIMIT = 600


@dataclass(frozen=True, slots=True)
class OperationalNotice:
    """``kind`` names the problem (``webex_authorization_expired``, ``verification_poisoned``);
    ``lines`` are sentences — ours, or evidence from an API, so escaped per channel."""

    kind: str
    title: str
    lines: tuple[str, ...]
    incident_id: str | None = None


def _marker(key: str) -> str:
    return "ops-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]


def render_operational(notice: OperationalNotice, channel: str) -> Rendered:
    """The notice as ``channel`` receives it (every line escaped for that channel's format)."""
    from shared.core.redaction import redact
    from shared.notify.render import Rendered

    lines = [clip(clean(redact(line)), _LINE_LIMIT) for line in notice.lines]  # evidence may quote an API
    title = clip(clean(notice.title), 200)
    incident = notice.incident_id or ""
    if channel == "email":
        text = "\n\n".join([title, *lines])
        body = "".join(f"<p>{html.escape(plain(line))}</p>" for line in lines)
        page = f"<html><body><h2>{html.escape(plain(title))}</h2>{body}</body></html>"
        return Rendered("email", subject_line(f"[Webex sync remediator] {title}"), str(plain(text)), page,
                        None, incident)  # fmt: skip
    if channel == "webex":
        markdown = "\n\n".join([f"**{webex_md(title)}**", *(str(webex_md(line)) for line in lines)])
        return Rendered("webex", None, markdown, None, None, incident)
    if channel == "teams":
        blocks: list[dict[str, Any]] = [
            {"type": "TextBlock", "text": card_md(title), "weight": "Bolder", "size": "Medium", "wrap": True}
        ]
        blocks += [{"type": "TextBlock", "text": card_md(line), "wrap": True} for line in lines]
        card = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": blocks,
        }
        payload = {
            "type": "message",
            "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
                             "content": card}],
        }  # fmt: skip
        return Rendered("teams", None, str(plain(title)), None, payload, incident)
    document = {
        "schema": SCHEMA,
        "kind": notice.kind,
        "incident_id": notice.incident_id,
        "title": title,
        "lines": lines,
        "sent_at": format_timestamp(clock.now()),
    }
    return Rendered("webhook", None, str(plain(title)), None, document, incident)


@dataclass(frozen=True, slots=True)
class OperationalDeps:
    """What sending an operational notice uses: the tenant (the marker rows' partition), the one
    table (the "once" markers) and the configured channels, built on first use."""

    tenant_id: str
    table: Table
    channels: Callable[[], Awaitable[Sequence[Any]]]


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
            result = await channel.send(render_operational(notice, channel.name))
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
