"""Sending an incident's notices: once per channel per state change, each channel failing alone.

For every enabled channel and notice (``opened``, ``reminder-2``, ``resolved`` …) a delivery goes
through three ETag-checked steps on the incident row:

1. **claim** — only the worker whose update wins sends; a claim older than :data:`CLAIM_LEASE` is
   taken over (its sender died);
2. **send** — through the channel;
3. **record** — ``sent`` with the message reference (Webex threads follow-ups on it), or ``failed``.

The only duplicate window is a crash between 2 and 3: the lease expires and the notice is sent
again. A failed channel does not stop the others; it is retried by the next invocation (the
function fails so the platform retries, and every verification run flushes pending deliveries).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from shared.core.clock import clock, format_timestamp, parse_timestamp
from shared.incidents.store import Delivery, Incident, State

if TYPE_CHECKING:
    from shared.app.runtime import Services
    from shared.notify.view import IncidentView, NoticeKind

log = logging.getLogger(__name__)

CLAIM_LEASE = timedelta(minutes=2)
MAX_ATTEMPTS = 20
"""After this many failed attempts a delivery is left failed (and reported) instead of retried."""


@dataclass(slots=True)
class DeliveryReport:
    sent: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    retry_after: float | None = None

    @property
    def pending(self) -> bool:
        return bool(self.failed)


def view_for(svc: Services, inc: Incident, notice: NoticeKind) -> IncidentView:
    """The notice's view of an incident: trusted parts from catalogue + settings, the rest stored."""
    from shared.core.models import Action, Kind
    from shared.notify.view import build_view

    s = svc.settings
    app = s.catalogue.by_key(inc.app_key)
    assert app is not None, f"unknown app key {inc.app_key!r}"
    view = build_view(
        incident_id=inc.incident_id,
        tenant_id=s.tenant_id,
        notice=notice,
        kind=Kind(inc.kind),
        action=Action(inc.action),
        app=app,
        detected_at=inc.opened_at,
        login_base=s.entra_login_base,
        detected_by=inc.sources,
        soft_or_hard=inc.soft_or_hard if inc.soft_or_hard in ("soft", "hard") else None,  # type: ignore[arg-type]
        time_to_recover=inc.time_to_recover,
        attempts=inc.verify_attempts,
        reason=inc.reason,
        webex_org_id=s.webex_org_id,
    )
    return replace(
        view,
        activity=inc.activity,
        initiator_label=inc.initiator_label,
        initiator_kind=inc.initiator_kind,
        event_time=inc.event_time,
        target_object_id=inc.target_object_id,
    )


async def channels_for(svc: Services) -> list[Any]:
    """The configured channels (:func:`shared.notify.channels.build_channels`, the one rule), sharing
    the process's clients; the Graph client is built only when e-mail is on."""
    from shared.notify.channels import build_channels

    s = svc.settings
    graph = (await svc.graph()).client if s.email_enabled else None
    return list(build_channels(s, graph=graph, http_client=await svc.http()))


def _claimable(d: Delivery | None, now_iso: str) -> bool:
    if d is None:
        return True
    if d.status == "sent" or d.permanent or d.attempts >= MAX_ATTEMPTS:
        return False
    if d.status == "claimed":
        at = parse_timestamp(d.at)
        return at is None or clock.now() - at > CLAIM_LEASE
    return True  # failed earlier: try again


async def deliver(
    svc: Services, inc: Incident, notice: NoticeKind, key: str | None = None, *, reason: str | None = None
) -> tuple[Incident, DeliveryReport]:
    """Send ``notice`` for ``inc`` on every enabled channel that has not had it yet (every line
    logged meanwhile, channel and SDK lines included, carries the incident's fields)."""
    from shared.core.logcontext import bind

    with bind(tenant_id=inc.tenant_id, incident_id=inc.incident_id, app=inc.app_key, kind=inc.kind):
        return await _deliver(svc, inc, notice, key, reason=reason)


async def _deliver(
    svc: Services, inc: Incident, notice: NoticeKind, key: str | None, *, reason: str | None
) -> tuple[Incident, DeliveryReport]:
    """Claim every channel that still owes this notice in ONE ETag-checked update, send on the
    claimed ones concurrently, record every outcome in ONE update. Two workers racing split the
    channels between them (each claim is per channel on the same row); a crash between send and
    record is the documented duplicate window (the claim lease, then a resend)."""
    import asyncio

    key = key or str(notice)
    report = DeliveryReport()
    channels = await channels_for(svc)
    if not channels:
        return inc, report
    now_iso = format_timestamp(clock.now())
    won: set[str] = set()

    def claim(c: Incident) -> Incident | None:
        won.clear()
        deliveries = dict(c.deliveries)
        for channel in channels:
            dkey = f"{channel.name}/{key}"
            existing = deliveries.get(dkey)
            if _claimable(existing, now_iso):
                won.add(channel.name)
                attempts = (existing.attempts if existing else 0) + 1
                deliveries[dkey] = Delivery(status="claimed", at=now_iso, attempts=attempts)
        return replace(c, deliveries=deliveries) if won else None

    claimed = await svc.store().mutate(inc.tenant_id, inc.app_key, claim, known=inc)
    if claimed is None:
        return inc, report  # the incident closed under us
    current = claimed
    report.skipped.extend(ch.name for ch in channels if ch.name not in won)
    mine = [ch for ch in channels if ch.name in won]
    if not mine:
        return current, report

    view = view_for(svc, current, notice)
    if reason is not None:
        view = replace(view, reason=reason)
    outcomes = await asyncio.gather(*(_send_one(ch, view, current, key) for ch in mine))
    results = {ch.name: outcome for ch, outcome in zip(mine, outcomes, strict=True)}
    all_sent = all(o.status == "sent" for o in results.values())
    opening = str(notice) in ("opened", "restored")

    def record(c: Incident) -> Incident | None:
        deliveries = dict(c.deliveries)
        for name, outcome in results.items():
            prev = deliveries.get(f"{name}/{key}")
            deliveries[f"{name}/{key}"] = replace(outcome, attempts=prev.attempts if prev else 1)
        state = State.NOTIFIED if opening and all_sent and c.state == State.OPEN else c.state
        return replace(c, deliveries=deliveries, state=state)

    current = await svc.store().mutate(current.tenant_id, current.app_key, record, known=current) or current
    for name, outcome in results.items():
        extra: dict[str, Any] = {"event": f"notice_{outcome.status}", "channel": name, "notice": key}
        if outcome.status == "sent":
            report.sent.append(name)
            log.info("notice %s sent on %s for incident %s", key, name, current.incident_id, extra=extra)
        else:
            report.failed.append(name)
            if outcome.retry_after is not None:
                report.retry_after = max(report.retry_after or 0.0, outcome.retry_after)
            log.warning(
                "notice %s failed on %s for incident %s: %s", key, name, current.incident_id, outcome.error, extra=extra
            )
    return current, report


async def _send_one(channel: Any, view: IncidentView, current: Incident, key: str) -> Delivery:
    """One channel's send, as the outcome to record; a channel bug must not stop the others.

    The delivery id (the webhook's ``X-Remediator-Delivery``) is derived from the delivery's key, so
    every retry of this notice on this channel carries the same id and no other delivery has it."""
    from shared.notify.render import render
    from shared.notify.signing import delivery_id_for

    thread_ref = None
    if view.is_follow_up:  # thread under the first notice: "opened", or "restored" when it replaced it
        for root in ("opened", "restored"):
            first = current.deliveries.get(f"{channel.name}/{root}")
            if first and first.status == "sent" and first.ref:
                thread_ref = first.ref
                break
    try:
        delivery_id = delivery_id_for(current.tenant_id, current.incident_id, channel.name, key)
        rendered = replace(render(view, channel.name), delivery_id=delivery_id)
        result = await channel.send(rendered, thread_ref=thread_ref)
        ok, ref, error = result.ok, result.message_ref, result.error
        retry_after, permanent = result.retry_after, getattr(result, "permanent", False)
    except Exception as exc:
        log.exception("channel %s failed for incident %s", channel.name, current.incident_id)
        ok, ref, error, retry_after, permanent = False, None, type(exc).__name__, None, False
    return Delivery(
        status="sent" if ok else "failed",
        at=format_timestamp(clock.now()),
        ref=ref,
        error=None if ok else (error or "failed")[:300],
        retry_after=retry_after,
        permanent=bool(permanent) and not ok,
    )


def pending_notices(inc: Incident) -> list[str]:
    """Delivery keys (``opened``, ``reminder-2``…) with a failed, retriable channel."""
    keys = []
    for dkey, d in inc.deliveries.items():
        if d.status == "sent" or d.permanent or d.attempts >= MAX_ATTEMPTS:
            continue
        keys.append(dkey.split("/", 1)[1])
    return sorted(set(keys))
