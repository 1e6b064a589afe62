"""Operational notices — problems with the remediator itself — rendered like incident notices.

Two kinds of things need a person although no Webex app is broken: the project's own Webex
authorization expired, a verification landed in the poison queue, a check found a setting wrong.
They go to the same channels as incident notices, in a short fixed format, through the same
machinery: the Jinja templates of :mod:`shared.notify.render` (``operational_*.j2``, escaped by the
environment's ``finalize`` hook for each format) and JSON documents for Teams and the webhook.

The title and the lines are escaped for every format (minimally: see :mod:`shared.notify.escape`),
because a line may quote evidence from an API; our own sentences come through unchanged. Sending
(and "once" markers in the incidents table) is :mod:`shared.incidents.operational`'s job.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.core.clock import format_timestamp
from shared.core.redaction import redact
from shared.notify.escape import card_md, clean, clip, plain, subject_line
from shared.notify.render import ChannelName, Rendered, environment, teams_envelope
from shared.notify.view import NoticeTenant

SCHEMA = "webex-sync-remediator/operational@1"
SUBJECT_PREFIX = "[Webex sync remediator]"
_LINE_LIMIT = 600
_TITLE_LIMIT = 200


@dataclass(frozen=True, slots=True)
class OperationalNotice:
    """``kind`` names the problem (``webex_authorization_expired``, ``verification_poisoned``);
    ``lines`` are sentences — ours, or evidence from an API, so escaped per channel."""

    kind: str
    title: str
    lines: tuple[str, ...]
    incident_id: str | None = None


def _bounded(notice: OperationalNotice, tenant: NoticeTenant | None) -> tuple[str, list[str]]:
    """Title and lines on one line each, secrets masked (evidence may quote an API), clipped; a
    customer tenant's notice names the tenant first (its display name is data, escaped like a line)."""
    lines = [clip(clean(redact(line)), _LINE_LIMIT) for line in notice.lines]
    if tenant is not None:
        name = clip(clean(tenant.display_name), _TITLE_LIMIT)
        lines.insert(0, f"Tenant: {name} ({tenant.tenant_id})" if name else f"Tenant: {tenant.tenant_id}")
    return clip(clean(redact(notice.title)), _TITLE_LIMIT), lines


def render_operational(
    notice: OperationalNotice, channel: ChannelName, *, now: datetime, tenant: NoticeTenant | None = None
) -> Rendered:
    """The notice as ``channel`` receives it; ``now`` stamps the webhook document. ``tenant``: the
    customer tenant it is about (provider mode), named in every channel and in the webhook fields."""
    title, lines = _bounded(notice, tenant)
    incident = notice.incident_id or ""
    if channel == "email":
        env = environment()
        ctx = {"title": title, "lines": lines}
        subject = subject_line(f"{SUBJECT_PREFIX} {title}", _TITLE_LIMIT)
        text = env.get_template("operational_email.txt.j2").render(ctx)
        html = env.get_template("operational_email.html.j2").render(ctx, subject=subject)
        return Rendered("email", subject, text, html, None, incident)
    if channel == "webex":
        markdown = environment().get_template("operational_webex.md.j2").render(title=title, lines=lines)
        return Rendered("webex", None, markdown.strip() + "\n", None, None, incident)
    if channel == "teams":
        blocks: list[dict[str, Any]] = [
            {"type": "TextBlock", "text": card_md(title), "weight": "Bolder", "size": "Medium", "wrap": True}
        ]
        blocks += [{"type": "TextBlock", "text": card_md(line), "wrap": True} for line in lines]
        return Rendered("teams", None, plain(title), None, teams_envelope(blocks, []), incident)
    if channel == "webhook":
        document: dict[str, Any] = {
            "schema": SCHEMA,
            "kind": notice.kind,
            "incident_id": notice.incident_id,
            "title": title,
            "lines": lines,
            "sent_at": format_timestamp(now),
        }
        if tenant is not None:  # provider mode: the tenant fields a PSA files tickets by
            document["tenant_id"] = tenant.tenant_id
            document["tenant_name"] = clip(clean(tenant.display_name), _TITLE_LIMIT) or None
            document["webex_org_id"] = tenant.webex_org_id
        return Rendered("webhook", None, plain(title), None, document, incident)
    raise ValueError(f"unknown channel {channel!r}")
