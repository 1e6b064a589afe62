"""The pages behind a notice's signed links (functions/actions.py is the thin HTTP trigger).

``GET`` only verifies the token and answers a confirmation page: it reads and writes nothing, since
mail scanners (Safe Links and the like) fetch every link in a message. The person's ``POST`` from
that page carries the incident id and the action back as form fields; the token must be bound to
exactly those, so a form altered to point one link at another incident or action is refused. Any
refusal is a 403 with no state change, and the reason goes to the log, never the token.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from shared.app.pages import SECURITY_HEADERS, render_page
from shared.core.action_links import LinkAction, LinkClaims, LinkError, LinkKeys, MalformedLink, verify

if TYPE_CHECKING:
    from shared.app.actions import ActionDeps, ActionResult
    from shared.core.settings import Settings

log = logging.getLogger(__name__)

MAX_FORM_BYTES = 4096

_EXPLAIN = {
    LinkAction.CHECK_NOW: (
        "Check now",
        "Runs the verification at once: Microsoft Entra ID and Webex are asked whether directory sync works "
        "again. If it does, the incident is resolved and the “fixed” notice goes out now.",
        "Check now",
    ),
    LinkAction.ACKNOWLEDGE: (
        "Acknowledge",
        "Tells the remediator someone is working on it: reminders for this incident stop. Escalation at the "
        "deadline still happens, and the incident still resolves by itself once sync works again.",
        "Acknowledge",
    ),
}


@dataclass(frozen=True, slots=True)
class Page:
    status: int
    html: str
    headers: dict[str, str] = field(default_factory=lambda: dict(SECURITY_HEADERS))


def _refused(reason: str) -> Page:
    html = render_page("action_result.html.j2", title="This link cannot be used", good=False, incident_id=None,
                       app_name=None, verdicts=(), steps=(),
                       message="The link is not valid: it may have expired (links last 7 days), been altered, "
                               "or been made for another incident. Use the links of the latest notice.")  # fmt: skip
    log.warning("action link refused: %s", reason, extra={"event": "action_link_refused", "reason": reason})
    return Page(403, html)


def _off() -> Page:
    html = render_page("action_result.html.j2", title="Action links are off", good=False, incident_id=None,
                       app_name=None, verdicts=(), steps=(),
                       message="This deployment has no action-link key configured.")  # fmt: skip
    return Page(404, html)


def _app_name(settings: Settings, app_key: str) -> str:
    app = settings.catalogue.by_key(app_key)
    return app.display_name if app is not None else app_key


def confirm(settings: Settings, token: str, *, now: datetime) -> Page:
    """The GET answer: a confirmation page with a form, or 403. Touches no storage."""
    keys = settings.link_keys()
    if keys is None:
        return _off()
    try:
        claims = verify(token, keys, now=now)
    except LinkError as exc:
        return _refused(exc.reason)
    title, explanation, button = _EXPLAIN[claims.action]
    expires = datetime.fromtimestamp(claims.expires, UTC).strftime("%Y-%m-%d %H:%M UTC")
    html = render_page("action_confirm.html.j2", title=title, explanation=explanation, button=button,
                       incident_id=claims.incident_id, action=str(claims.action),
                       app_name=_app_name(settings, claims.app_key), expires=expires)  # fmt: skip
    return Page(200, html)


def parse_form(body: bytes, content_type: str | None) -> dict[str, str]:
    """``incident`` and ``action`` from the confirmation form (urlencoded); MalformedLink otherwise."""
    ctype = (content_type or "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        raise MalformedLink("the form must be application/x-www-form-urlencoded")
    if len(body) > MAX_FORM_BYTES:
        raise MalformedLink("form too large")
    try:
        fields = parse_qs(body.decode("ascii"), strict_parsing=False, max_num_fields=8)
    except (UnicodeDecodeError, ValueError):
        raise MalformedLink("form is not urlencoded ASCII") from None
    out: dict[str, str] = {}
    for name in ("incident", "action"):
        values = fields.get(name, [])
        if len(values) != 1 or not values[0]:
            raise MalformedLink(f"form field {name} missing or repeated")
        out[name] = values[0]
    return out


async def perform(
    settings: Settings, deps: ActionDeps, token: str, body: bytes, content_type: str | None, *, now: datetime
) -> Page:
    """The POST answer: the action done (or refused with 403 and nothing changed)."""
    keys = settings.link_keys()
    if keys is None:
        return _off()
    try:
        claims = _claims_for_post(keys, token, body, content_type, now)
    except LinkError as exc:
        return _refused(exc.reason)
    from shared.app.actions import acknowledge, check_now

    if claims.action is LinkAction.ACKNOWLEDGE:
        result = await acknowledge(deps, claims)
    else:
        result = await check_now(deps, claims)
    return result_page(settings, claims, result)


def _claims_for_post(keys: LinkKeys, token: str, body: bytes, content_type: str | None, now: datetime) -> LinkClaims:
    verify(token, keys, now=now)  # a forged token is "forged" whatever its form says
    form = parse_form(body, content_type)
    return verify(token, keys, now=now, incident_id=form["incident"], action=form["action"])


_MESSAGES = {
    "acknowledged": (True, "Acknowledged", "Reminders for this incident are off. Escalation at the deadline "
                                           "still happens; you will hear when it is fixed."),
    "already_acknowledged": (True, "Already acknowledged", "Reminders for this incident were already off."),
    "resolved": (True, "Fixed", "Directory sync works again. The incident is resolved and the “fixed” notice "
                                "has gone out."),
    "already_resolved": (True, "Already resolved", "This incident was resolved earlier; nothing to do."),
    "still_broken": (False, "Still broken", "The checks still fail. What they found is below, and the fix again."),
    "busy": (False, "A check is running", "A scheduled verification of this incident is running right now; "
                                          "its result arrives as a notice. Try again in a minute."),
    "not_found": (False, "No such incident", "This incident is not known to this deployment."),
}  # fmt: skip


def result_page(settings: Settings, claims: LinkClaims, result: ActionResult) -> Page:
    from shared.notify.view import fix_steps_for

    if result.outcome == "rate_limited":
        good, title = False, "Checked a moment ago"
        message = f"This incident was checked less than 30 seconds ago. Try again in {result.retry_in or 30:.0f} s."
    else:
        good, title, message = _MESSAGES[result.outcome]
    steps: tuple[object, ...] = ()
    inc = result.incident
    if result.outcome in ("still_broken", "busy", "rate_limited") and inc is not None:
        from shared.core.catalogue import consent_url
        from shared.core.models import Action

        app = settings.catalogue.by_key(inc.app_key)
        if app is not None:
            from shared.notify.view import Links, tenant_links

            # the incident's tenant (the link's own claims), never the deployment's TENANT_ID as such
            consent = consent_url(app, inc.tenant_id, settings.entra_login_base)
            links = tenant_links(inc.tenant_id) if settings.tenancy_mode == "provider" else Links()
            steps = fix_steps_for(Action(inc.action), app.display_name, consent, links)
    html = render_page("action_result.html.j2", title=title, good=good, message=message,
                       incident_id=claims.incident_id, app_name=_app_name(settings, claims.app_key),
                       verdicts=result.verdicts, steps=steps)  # fmt: skip
    return Page(429 if result.outcome == "rate_limited" else 200, html)
