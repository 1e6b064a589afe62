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
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.core.clock import clock, format_timestamp, parse_timestamp
from shared.incidents.claims import claim, write
from shared.incidents.lifecycle import Event, Step, lease_expired, moved, reached
from shared.incidents.store import Delivery, Incident

if TYPE_CHECKING:
    from shared.core.settings import Settings
    from shared.incidents.store import IncidentStore
    from shared.notify.view import IncidentView, NoticeKind, NoticeTenant

log = logging.getLogger(__name__)

CLAIM_LEASE = timedelta(minutes=2)
MAX_ATTEMPTS = 20
"""After this many failed attempts a delivery is left failed (and reported) instead of retried."""


@dataclass(frozen=True, slots=True)
class NoticeDeps:
    """What sending an incident's notices uses: the settings (the notice's trusted parts), the
    incident store (claims and outcomes) and the configured channels, built on first use; in
    provider mode the customer tenant the settings are scoped to (its name goes in the notices)."""

    settings: Settings
    store: IncidentStore
    channels: Callable[[], Awaitable[Sequence[Any]]]
    tenant: NoticeTenant | None = None


class MisroutedNotice(ValueError):
    """An incident of one tenant was about to go out through another tenant's channels (a caller
    built the notice deps for the wrong tenant): nothing is sent."""


@dataclass(slots=True)
class DeliveryReport:
    sent: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    retry_after: float | None = None

    @property
    def pending(self) -> bool:
        return bool(self.failed)


def view_for(s: Settings, inc: Incident, notice: NoticeKind, tenant: NoticeTenant | None = None) -> IncidentView:
    """The notice's view of an incident: trusted parts from catalogue + settings, the rest stored.

    The consent URL and the Entra links name the INCIDENT's tenant (never the deployment's
    ``TENANT_ID`` as such); in provider mode the links open that tenant's directory and ``tenant``
    (the tenants-table row the settings were scoped to) gives the notice its name."""
    from shared.core.models import Action, Kind
    from shared.notify.view import Links, build_view, tenant_links

    app = s.catalogue.by_key(inc.app_key)
    assert app is not None, f"unknown app key {inc.app_key!r}"
    provider = s.tenancy_mode == "provider"
    named = tenant if tenant is not None and tenant.tenant_id == inc.tenant_id else None
    view = build_view(
        incident_id=inc.incident_id,
        tenant_id=inc.tenant_id,
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
        webex_org_id=named.webex_org_id if named is not None and named.webex_org_id else s.webex_org_id,
        links=tenant_links(inc.tenant_id) if provider else Links(),
        tenant_name=named.display_name if named is not None else None,
    )
    view = replace(
        view,
        activity=inc.activity,
        initiator_label=inc.initiator_label,
        initiator_kind=inc.initiator_kind,
        event_time=inc.event_time,
        target_object_id=inc.target_object_id,
    )
    return with_action_links(view, inc, s)


def with_action_links(view: IncidentView, inc: Incident, settings: Settings) -> IncidentView:
    """The signed "Check now" / "Acknowledge" links on a notice about an open incident (none when
    links are off, or the notice says it is fixed)."""
    from shared.core.action_links import action_urls

    keys = settings.link_keys()
    if keys is None or settings.public_base_url is None or not view.still_broken:
        return view
    check, ack = action_urls(settings.public_base_url, tenant_id=inc.tenant_id, app_key=inc.app_key,
                             incident_id=inc.incident_id, now=clock.now(), keys=keys)  # fmt: skip
    return replace(view, check_now_url=check, acknowledge_url=ack)


def _claimable(d: Delivery | None, now: datetime) -> bool:
    if d is None:
        return True
    if d.status == "sent" or d.permanent or d.attempts >= MAX_ATTEMPTS:
        return False
    if d.status == "claimed":
        return lease_expired(parse_timestamp(d.at), CLAIM_LEASE, now)
    return True  # failed earlier: try again


async def deliver(
    deps: NoticeDeps, inc: Incident, notice: NoticeKind, key: str | None = None, *, reason: str | None = None
) -> tuple[Incident, DeliveryReport]:
    """Send ``notice`` for ``inc`` on every enabled channel that has not had it yet (every line
    logged meanwhile, channel and SDK lines included, carries the incident's fields)."""
    from shared.core.logcontext import bind

    with bind(tenant_id=inc.tenant_id, incident_id=inc.incident_id, app=inc.app_key, kind=inc.kind):
        return await _deliver(deps, inc, notice, key, reason=reason)


def _claim_channels(
    channels: Sequence[Any], key: str, now: datetime
) -> Callable[[Incident], tuple[Incident, frozenset[str]] | None]:
    """The claim of every channel that still owes notice ``key``: the channels won, or ``None``."""
    now_iso = format_timestamp(now)

    def take(c: Incident) -> tuple[Incident, frozenset[str]] | None:
        deliveries = dict(c.deliveries)
        won: set[str] = set()
        for channel in channels:
            dkey = f"{channel.name}/{key}"
            existing = deliveries.get(dkey)
            if _claimable(existing, now):
                won.add(channel.name)
                attempts = (existing.attempts if existing else 0) + 1
                deliveries[dkey] = Delivery(status="claimed", at=now_iso, attempts=attempts)
        return (replace(c, deliveries=deliveries), frozenset(won)) if won else None

    return take


def _record_outcomes(results: dict[str, Delivery], key: str, *, opening: bool) -> Callable[[Incident], Incident]:
    """Every channel's outcome onto the row; an opening notice sent everywhere moves an ``open``
    incident to ``notified`` (the lifecycle's ``notified`` event)."""
    all_sent = all(o.status == "sent" for o in results.values())

    def record(c: Incident) -> Incident:
        deliveries = dict(c.deliveries)
        for name, outcome in results.items():
            prev = deliveries.get(f"{name}/{key}")
            deliveries[f"{name}/{key}"] = replace(outcome, attempts=prev.attempts if prev else 1)
        if opening and all_sent and c.state == "open":
            return moved(c, Event.NOTIFIED, deliveries=deliveries)
        return replace(c, deliveries=deliveries)

    return record


async def _deliver(
    deps: NoticeDeps, inc: Incident, notice: NoticeKind, key: str | None, *, reason: str | None
) -> tuple[Incident, DeliveryReport]:
    """Claim every channel that still owes this notice in ONE ETag-checked update, send on the
    claimed ones concurrently, record every outcome in ONE update. Two workers racing split the
    channels between them (each claim is per channel on the same row); a crash between send and
    record is the documented duplicate window (the claim lease, then a resend)."""
    import asyncio

    key = key or str(notice)
    report = DeliveryReport()
    if inc.tenant_id.lower() != deps.settings.tenant_id.lower():
        raise MisroutedNotice(f"incident {inc.incident_id} of {inc.tenant_id} on {deps.settings.tenant_id}'s channels")
    channels = await deps.channels()
    if not channels:
        return inc, report
    got = await claim(
        deps.store, inc, _claim_channels(channels, key, clock.now()), step=Step.DELIVERY_CLAIMED, known=True
    )
    if got.incident is None:
        return inc, report  # the incident closed under us
    current = got.incident
    won = got.prize or frozenset()
    report.skipped.extend(ch.name for ch in channels if ch.name not in won)
    mine = [ch for ch in channels if ch.name in won]
    if not mine:
        return current, report

    view = view_for(deps.settings, current, notice, deps.tenant)
    if reason is not None:
        view = replace(view, reason=reason)
    outcomes = await asyncio.gather(*(_send_one(ch, view, current, key) for ch in mine))
    reached(Step.DELIVERY_SENT)
    results = {ch.name: outcome for ch, outcome in zip(mine, outcomes, strict=True)}
    record = _record_outcomes(results, key, opening=str(notice) in ("opened", "restored"))
    current = await write(deps.store, current, record, step=Step.DELIVERY_RECORDED, known=True)
    _report(report, results, key, current.incident_id)
    return current, report


def _report(report: DeliveryReport, results: dict[str, Delivery], key: str, incident_id: str) -> None:
    for name, outcome in results.items():
        extra: dict[str, Any] = {"event": f"notice_{outcome.status}", "channel": name, "notice": key}
        if outcome.status == "sent":
            report.sent.append(name)
            log.info("notice %s sent on %s for incident %s", key, name, incident_id, extra=extra)
        else:
            report.failed.append(name)
            if outcome.retry_after is not None:
                report.retry_after = max(report.retry_after or 0.0, outcome.retry_after)
            log.warning(
                "notice %s failed on %s for incident %s: %s", key, name, incident_id, outcome.error, extra=extra
            )


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
