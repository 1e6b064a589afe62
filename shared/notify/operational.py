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
class TenantLine:
    """One customer tenant in a notice that lists tenants (the provider's digest). Every field is
    data — a display name is whatever the tenants row says — so each is escaped per channel."""

    tenant_id: str
    display_name: str
    verdict: str
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class OperationalNotice:
    """``kind`` names the problem (``webex_authorization_expired``, ``verification_poisoned``);
    ``lines`` are sentences — ours, or evidence from an API, so escaped per channel. ``tenants``
    (provider mode's digest) is rendered as a table after the lines."""

    kind: str
    title: str
    lines: tuple[str, ...]
    incident_id: str | None = None
    tenants: tuple[TenantLine, ...] = ()


_TENANTS_SHOWN = 200
"""Tenants listed in one notice; the rest are counted (a mail of 10,000 rows helps nobody)."""


def _tenant_rows(notice: OperationalNotice) -> tuple[list[dict[str, str]], int]:
    """The tenants as bounded one-line fields, secrets masked, and how many were left out."""
    rows = [
        {
            "tenant_id": clip(clean(t.tenant_id), 64),
            "display_name": clip(clean(redact(t.display_name)), 256),
            "verdict": clip(clean(t.verdict), 40),
            "reasons": clip(clean(redact("; ".join(t.reasons))), _LINE_LIMIT),
        }
        for t in notice.tenants[:_TENANTS_SHOWN]
    ]
    return rows, max(len(notice.tenants) - _TENANTS_SHOWN, 0)


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
    tenants, more = _tenant_rows(notice)
    if channel == "email":
        env = environment()
        ctx = {"title": title, "lines": lines, "tenants": tenants, "more": more}
        subject = subject_line(f"{SUBJECT_PREFIX} {title}", _TITLE_LIMIT)
        text = env.get_template("operational_email.txt.j2").render(ctx)
        html = env.get_template("operational_email.html.j2").render(ctx, subject=subject)
        return Rendered("email", subject, text, html, None, incident)
    if channel == "webex":
        markdown = (
            environment()
            .get_template("operational_webex.md.j2")
            .render(title=title, lines=lines, tenants=tenants, more=more)
        )
        return Rendered("webex", None, markdown.strip() + "\n", None, None, incident)
    if channel == "teams":
        blocks: list[dict[str, Any]] = [
            {"type": "TextBlock", "text": card_md(title), "weight": "Bolder", "size": "Medium", "wrap": True}
        ]
        blocks += [{"type": "TextBlock", "text": card_md(line), "wrap": True} for line in lines]
        blocks += [_tenant_block(t) for t in tenants]
        if more:
            blocks.append({"type": "TextBlock", "text": f"… and {more} more tenants", "wrap": True})
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
        if notice.tenants:
            document["tenants"] = tenants
            document["tenants_not_listed"] = more
        return Rendered("webhook", None, plain(title), None, document, incident)
    raise ValueError(f"unknown channel {channel!r}")


def _tenant_block(row: dict[str, str]) -> dict[str, Any]:
    """One tenant in an Adaptive Card: a fact set, every value escaped for the card's markdown."""
    facts = [
        {"title": "Tenant", "value": card_md(row["display_name"] or row["tenant_id"])},
        {"title": "Tenant id", "value": card_md(row["tenant_id"])},
        {"title": "Verdict", "value": card_md(row["verdict"])},
    ]
    if row["reasons"]:
        facts.append({"title": "Why", "value": card_md(row["reasons"])})
    return {"type": "FactSet", "facts": facts, "separator": True}
