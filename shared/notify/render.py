"""Turn an :class:`IncidentView` into what each channel receives.

E-mail and Webex come from Jinja templates in ``templates/`` (one per channel and part); Teams and
the generic webhook are JSON built as Python dicts and serialised with :func:`json.dumps`, so any
JSON or Adaptive Card fragment inside a display name stays an inert string.

Escaping is by output format and cannot be forgotten: the environment's ``finalize`` hook escapes
every ``{{ … }}`` value for the format named by the template's suffix (``.html.j2`` → autoescaped
HTML of defanged text, ``.md.j2`` → Webex markdown, ``.txt.j2`` → defanged plain text), and only
:class:`~shared.notify.escape.Safe` values pass unchanged: our URLs (the ``url`` filter) and our own
words (headline, impact, steps, labels — written markdown-safe, so no channel shows a backslash in
them). Event text in the facts is escaped for the format by :func:`facts`. Untrusted fields are
also cleaned and clipped before rendering, so size limits hold. docs/notices.md shows the result.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from functools import lru_cache
from typing import Any, Literal, get_args

from jinja2 import Environment, PackageLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import Markup

from shared.core.clock import format_timestamp
from shared.notify.escape import Safe, cap_utf8, card_md, clean, clip, plain, subject_line, webex_md
from shared.notify.view import IMPACT, FixStep, IncidentView, NoticeKind, restored_steps

ChannelName = Literal["email", "teams", "webex", "webhook"]
CHANNELS: tuple[ChannelName, ...] = get_args(ChannelName)

WEBEX_MAX_BYTES = 7439
"""Webex limit on message text/markdown, in bytes (developer.webex.com, Messages API)."""
SUBJECT_MAX = 200
WEBHOOK_SCHEMA = "webex-sync-remediator/notice@1"

_FIELD_LIMIT = 512  # characters kept of each untrusted field in e-mail and Teams
_WEBHOOK_FIELD_LIMIT = 1024
_WEBEX_LIMITS = (512, 200, 80, 24)  # tried in turn until the markdown fits WEBEX_MAX_BYTES
_UNTRUSTED = ("activity", "initiator_label", "initiator_kind", "target_object_id", "incident_id", "tenant_name")


@dataclass(frozen=True, slots=True)
class Rendered:
    """One channel's notice.

    ``text`` is the plain-text part (e-mail), the markdown (Webex) or a one-line plain summary
    (Teams, webhook); ``payload`` is the JSON document Teams and the webhook receive.
    """

    channel: ChannelName
    subject: str | None
    text: str
    html: str | None = None
    payload: dict[str, Any] | None = None
    incident_id: str = ""
    notice: NoticeKind = NoticeKind.OPENED
    delivery_id: str = ""  # the webhook's X-Remediator-Delivery; set by the sender (notices.py)


# --- formatting helpers (filters) -------------------------------------------------------------------


def when(value: datetime | None) -> str:
    """A human UTC time, minutes precision."""
    if value is None:
        return "unknown"
    return format_timestamp(value)[:16].replace("T", " ") + " UTC"


def duration(value: timedelta | None) -> str:
    """``2 h 05 min``-style durations; seconds only under a minute."""
    if value is None:
        return "unknown"
    seconds = max(int(value.total_seconds()), 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h {minutes:02d} min"
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def trusted_url(value: object) -> Safe:
    """Mark one of our own https URLs (catalogue consent URL, fixed deep links) as output-ready.

    Refuses anything that could break out of a markdown link or an HTML attribute, as a last guard
    against a template passing event text to this filter.
    """
    text = str(value)
    if not text.startswith("https://") or any(c in text for c in " \t\r\n\"'<>()`\\"):
        raise ValueError("not a trusted URL")
    return Safe(text)


@pass_context
def _finalize(context: Context, value: Any) -> Any:
    """Escape every expression for the format of the template it is output in."""
    if isinstance(value, Safe | Markup):
        return value
    if value is None:
        return ""
    if isinstance(value, datetime):
        return when(value)
    if isinstance(value, timedelta):
        return duration(value)
    if isinstance(value, Enum):
        value = value.value
    name = context.name or ""
    if name.endswith(".md.j2"):
        return webex_md(value)
    return plain(value)  # .txt.j2, and .html.j2 (autoescaped after this)


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("shared.notify", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=False),
        undefined=StrictUndefined,
        finalize=_finalize,
        keep_trailing_newline=False,
        trim_blocks=False,
    )
    env.filters.update(url=trusted_url, when=when, duration=duration, plain=plain, md=webex_md)
    return env


# --- shared content ------------------------------------------------------------------------------------


def headline(view: IncidentView) -> str:
    """The first line of every notice (trusted text: catalogue name and our wording)."""
    what = view.what_happened
    match view.notice:
        case NoticeKind.OPENED:
            return f"Webex directory sync is broken. {what}."
        case NoticeKind.REMINDER:
            return f"Reminder: Webex directory sync is still broken. {what}."
        case NoticeKind.ESCALATED:
            return f"Escalation: Webex directory sync is still broken after the verification deadline. {what}."
        case NoticeKind.RESOLVED:
            return f"Resolved: Webex directory sync works again for “{view.app_display_name}”."
        case _:
            return (
                f"Restored automatically: {what}. The project restored it from the Microsoft Entra recycle bin "
                "(AUTO_RESTORE); Webex directory sync is being verified."
            )


def clipped(view: IncidentView, limit: int) -> IncidentView:
    """The view with every untrusted field cleaned (one line, no control characters) and clipped."""
    changes: dict[str, Any] = {}
    for name in _UNTRUSTED:
        value = getattr(view, name)
        if value is not None:
            changes[name] = clip(clean(value), limit)
    changes["detected_by"] = tuple(clip(clean(s), 40) for s in view.detected_by[:10])
    return dataclasses.replace(view, **changes)


def facts(view: IncidentView, esc: Callable[[object], Safe]) -> list[tuple[Safe, Safe]]:
    """Label/value rows for the details table, ready for one output format: our labels and words as
    written, every value that came from an event (or a stored row) passed through ``esc``."""
    rows: list[tuple[str, str]] = [("Incident", esc(view.incident_id))]
    if view.tenant_name:  # provider mode: the customer tenant's name from the tenants table (data)
        rows.append(("Customer", esc(view.tenant_name)))
    rows.append(("Tenant", esc(view.tenant_id)))
    app = view.app_display_name  # catalogue
    rows.append(("Application", f"{app} ({view.app_id})" if view.app_id else app))
    rows.append(("Classification", str(view.kind)))
    if view.soft_or_hard:
        rows.append(
            ("Delete type", "soft (restorable for 30 days)" if view.soft_or_hard == "soft" else "hard (permanent)")
        )
    if view.activity:
        rows.append(("Audit activity", esc(view.activity)))
    if view.initiator_label:
        kind = f" ({esc(view.initiator_kind)})" if view.initiator_kind and view.initiator_kind != "unknown" else ""
        rows.append(("Initiated by", esc(view.initiator_label) + kind))
    if view.target_object_id:
        rows.append(("Object id", esc(view.target_object_id)))
    rows.append(("Event time", when(view.event_time)))
    rows.append(("Detected", when(view.detected_at)))
    if view.detected_by:
        rows.append(("Detected by", ", ".join(esc(s) for s in view.detected_by)))
    if view.time_to_recover is not None:
        rows.append(("Time to recover", duration(view.time_to_recover)))
    if view.attempts:
        rows.append(("Checks so far", str(view.attempts)))
    if view.webex_org_id:
        rows.append(("Webex org", esc(view.webex_org_id)))
    return [(Safe(label), Safe(value)) for label, value in rows]


def action_links(view: IncidentView) -> list[tuple[str, Safe]]:
    """The signed "Check now" and "Acknowledge" links the view carries (each only when set), as
    ``(title, url)``; every channel shows them (e-mail buttons, card buttons, markdown links, JSON)."""
    pairs = (("Check now", view.check_now_url), ("Acknowledge", view.acknowledge_url))
    return [(Safe(title), trusted_url(url)) for title, url in pairs if url]


def _steps(view: IncidentView) -> tuple[FixStep, ...]:
    """The fix steps, our own words (marked :class:`Safe`, so no format escapes them)."""
    steps = restored_steps(view.links) if view.notice is NoticeKind.RESTORED else view.fix_steps
    if view.notice is not NoticeKind.RESTORED and not view.still_broken:
        return ()
    return tuple(
        dataclasses.replace(s, text=Safe(s.text), link_label=Safe(s.link_label) if s.link_label else None)
        for s in steps
    )


def _context(view: IncidentView, esc: Callable[[object], Safe]) -> dict[str, Any]:
    return {
        "view": view,
        "headline": Safe(headline(view)),
        "impact": Safe(IMPACT),
        "steps": _steps(view),
        "facts": facts(view, esc),
        "actions": action_links(view),
    }


# --- channels ---------------------------------------------------------------------------------------------


def render_email(view: IncidentView) -> Rendered:
    env = environment()
    v = clipped(view, _FIELD_LIMIT)
    ctx = _context(v, plain)
    subject = subject_line(env.get_template("email_subject.txt.j2").render(ctx), SUBJECT_MAX)
    ctx["subject"] = subject
    text = env.get_template("email_body.txt.j2").render(ctx)
    html = env.get_template("email_body.html.j2").render(ctx)
    return Rendered("email", subject, text, html, None, view.incident_id, view.notice)


def render_webex(view: IncidentView) -> Rendered:
    """Markdown within Webex's byte limit: untrusted fields shrink first, then a hard cap."""
    env = environment()
    name = "webex_followup.md.j2" if view.is_follow_up else "webex_opened.md.j2"
    template = env.get_template(name)
    text = ""
    for limit in _WEBEX_LIMITS:
        text = template.render(_context(clipped(view, limit), webex_md)).strip() + "\n"
        if len(text.encode("utf-8")) <= WEBEX_MAX_BYTES:
            break
    text = cap_utf8(text, WEBEX_MAX_BYTES)
    return Rendered("webex", None, text, None, None, view.incident_id, view.notice)


def _summary(view: IncidentView) -> str:
    return plain(f"{headline(view)} Incident {view.incident_id}.")


def teams_card(view: IncidentView) -> dict[str, Any]:
    """An Adaptive Card 1.4 in the envelope Teams Workflows ("When a Teams webhook request is
    received") expects. Our words go out as written; event text is escaped for Adaptive Card
    markdown (:func:`card_md`); URLs are ours.

    Layout for a chat card's width (~480 px, docs/notices.md): buttons only for what acts on the
    incident — "Grant admin consent" (the fix), "Check now", "Acknowledge" — whose titles fit side by
    side; the three deep links are one line of markdown links, which wraps instead of cutting titles.
    """
    v = clipped(view, _FIELD_LIMIT)
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": headline(v), "weight": "Bolder", "size": "Medium", "wrap": True}
    ]
    if v.still_broken:
        body.append({"type": "TextBlock", "text": IMPACT, "wrap": True})
    if v.time_to_recover is not None:
        body.append({"type": "TextBlock", "text": f"Time to recover: {duration(v.time_to_recover)}", "wrap": True})
    if v.reason:
        body.append({"type": "TextBlock", "text": f"Note: {card_md(v.reason)}", "wrap": True})
    steps = _steps(v)
    if steps:
        body.append({"type": "TextBlock", "text": "**Steps**", "wrap": True, "spacing": "Medium"})
        for i, step in enumerate(steps, 1):
            link = f" [{step.link_label or 'Open'}]({trusted_url(step.url)})" if step.url else ""
            # "**1.**", not "1.": a markdown list is indented past the card's edge by the renderer
            # and drawn differently by each Teams client; a bold number reads the same everywhere.
            body.append({"type": "TextBlock", "text": f"**{i}.** {step.text}{link}", "wrap": True})
    # The same three deep links as every other channel, in every notice (the audit log says who did
    # it and when, also once it is fixed).
    deep_links = " · ".join(f"[{title}]({url})" for title, url in _deep_links(v))
    body.append({"type": "TextBlock", "text": deep_links, "wrap": True, "spacing": "Medium"})
    body.append(
        {
            "type": "FactSet",
            "spacing": "Medium",
            "facts": [{"title": label, "value": value} for label, value in facts(v, card_md)],
        }
    )
    actions: list[dict[str, Any]] = []
    if v.consent_needed and v.consent_url:
        actions.append(
            {
                "type": "Action.OpenUrl",
                "title": "Grant admin consent",
                "url": trusted_url(v.consent_url),
                "style": "positive",
            }
        )
    actions += [{"type": "Action.OpenUrl", "title": title, "url": url} for title, url in action_links(v)]
    return teams_envelope(body, actions)


def teams_envelope(body: list[dict[str, Any]], actions: list[dict[str, Any]]) -> dict[str, Any]:
    """An Adaptive Card 1.4 with ``body`` and ``actions``, in the message envelope Teams Workflows
    takes (incident and operational notices alike)."""
    content: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
        "actions": actions,
        "msteams": {"width": "Full"},
    }
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": content}
        ],
    }


def _deep_links(view: IncidentView) -> list[tuple[str, Safe]]:
    return [
        ("Enterprise applications", trusted_url(view.links.enterprise_apps)),
        ("Entra audit log", trusted_url(view.links.audit_log)),
        ("Control Hub settings", trusted_url(view.links.control_hub_settings)),
    ]


def render_teams(view: IncidentView) -> Rendered:
    payload = teams_card(view)
    return Rendered("teams", None, _summary(view), None, payload, view.incident_id, view.notice)


def webhook_document(view: IncidentView) -> dict[str, Any]:
    """The generic webhook's JSON document (schema ``webex-sync-remediator/notice@1``).

    Fields::

        schema               "webex-sync-remediator/notice@1"
        incident_id          our incident id (stable across notices of one incident)
        notice               "opened" | "reminder" | "resolved" | "escalated" | "restored"
        tenant_id            the Entra tenant the incident is about (the incident's own)
        tenant_name          provider mode: the tenant's display name from the tenants table
                             (DATA: control characters removed, at most 1,024 characters), else null
        kind, action         classification kind and action (docs/contracts.md)
        app                  {"display_name", "app_id"} from the allowlisted catalogue
        soft_or_hard         "soft" | "hard" | null
        consent_url          admin-consent URL built from the catalogue + tenant, or null
        consent_needed       true while granting consent is the fix and the incident is open
        summary              one plain sentence for humans
        impact               what users see while broken, or null once fixed
        fix_steps            [{"text", "url"}] — our text and links
        links                {"enterprise_apps", "audit_log", "control_hub_settings", "wizard_help"}
        event                {"activity", "initiator", "initiator_kind", "target_object_id", "event_time"}
                             UNTRUSTED audit text: control characters removed, each value at most
                             1,024 characters; escape it for whatever you render it into
        detected_at          ISO 8601 UTC; detected_by: list of sources
        time_to_recover_seconds, attempts, reason
        webex_org_id         the Webex org of the incident's tenant
        check_now_url, acknowledge_url
                             signed action links (GET shows a confirmation page), or null

    Delivery is signed; see :mod:`shared.notify.signing`.
    """
    v = clipped(view, _WEBHOOK_FIELD_LIMIT)
    return {
        "schema": WEBHOOK_SCHEMA,
        "incident_id": v.incident_id,
        "notice": str(v.notice),
        "tenant_id": v.tenant_id,
        "tenant_name": v.tenant_name,
        "kind": str(v.kind),
        "action": str(v.action),
        "app": {"display_name": v.app_display_name, "app_id": v.app_id},
        "soft_or_hard": v.soft_or_hard,
        "consent_url": v.consent_url,
        "consent_needed": v.consent_needed,
        "summary": headline(v),
        "impact": IMPACT if v.still_broken else None,
        "fix_steps": [{"text": s.text, "url": s.url} for s in _steps(v)],
        "links": {
            "enterprise_apps": v.links.enterprise_apps,
            "audit_log": v.links.audit_log,
            "control_hub_settings": v.links.control_hub_settings,
            "wizard_help": v.links.wizard_help,
        },
        "event": {
            "activity": v.activity,
            "initiator": v.initiator_label,
            "initiator_kind": v.initiator_kind,
            "target_object_id": v.target_object_id,
            "event_time": format_timestamp(v.event_time) if v.event_time else None,
        },
        "detected_at": format_timestamp(v.detected_at),
        "detected_by": list(v.detected_by),
        "time_to_recover_seconds": v.time_to_recover.total_seconds() if v.time_to_recover is not None else None,
        "attempts": v.attempts,
        "reason": clip(clean(v.reason), _WEBHOOK_FIELD_LIMIT) if v.reason else None,
        "webex_org_id": v.webex_org_id,
        "check_now_url": trusted_url(v.check_now_url) if v.check_now_url else None,
        "acknowledge_url": trusted_url(v.acknowledge_url) if v.acknowledge_url else None,
    }


def render_webhook(view: IncidentView) -> Rendered:
    payload = webhook_document(view)
    return Rendered("webhook", None, _summary(view), None, payload, view.incident_id, view.notice)


def json_body(payload: dict[str, Any]) -> bytes:
    """The exact bytes POSTed (and signed) for a JSON payload: compact, UTF-8, ``<>&`` escaped as
    ``\\u003c`` etc. is not needed for JSON consumers, so plain ``ensure_ascii`` keeps it ASCII."""
    return json.dumps(payload, ensure_ascii=True, separators=(",", ":"), allow_nan=False).encode("ascii")


_RENDERERS = {"email": render_email, "teams": render_teams, "webex": render_webex, "webhook": render_webhook}


def render(view: IncidentView, channel: ChannelName) -> Rendered:
    """The notice for ``channel``."""
    try:
        renderer = _RENDERERS[channel]
    except KeyError:
        raise ValueError(f"unknown channel {channel!r}; expected one of {', '.join(CHANNELS)}") from None
    return renderer(view)


def render_preview(view: IncidentView, channel: ChannelName) -> str:
    """What ``channel`` receives, as one string (the ``render FILE --channel`` CLI output)."""
    rendered = render(view, channel)
    if channel == "email":
        return (
            f"Subject: {rendered.subject}\n"
            "Content-Type: multipart/alternative\n\n"
            "--- text/plain ---\n"
            f"{rendered.text.rstrip()}\n\n"
            "--- text/html ---\n"
            f"{(rendered.html or '').rstrip()}\n"
        )
    if rendered.payload is not None:
        return json.dumps(rendered.payload, indent=2, ensure_ascii=False) + "\n"
    return rendered.text
