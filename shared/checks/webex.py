"""Webex's view: Control Hub's directory-sync status call and the public SCIM API, and how the two
are read together (the status call is undocumented and only corroborates; SCIM proves our token)."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING

from shared.checks.report import CheckResult, NoticeOwed
from shared.core.clock import format_timestamp
from shared.core.errors import TransientError

if TYPE_CHECKING:
    from datetime import datetime

    from shared.checks.deps import CheckClients, WebexStatusMemory
    from shared.clients.webex_auth import WebexAuthExpired
    from shared.clients.webex_scim import ScimAnswer
    from shared.clients.webex_status import SyncStatus

STATUS = "webex.sync_status"
SCIM = "webex.scim"

DEFAULT_429_BACKOFF = 60.0
"""Seconds before the next run when Webex throttles without ``Retry-After`` and in-process retries
did not get through."""

STATUS_NOTICE = (
    "webex_status_token_not_accepted",
    "The Webex status endpoint does not accept this token",
    "Control Hub's directory-sync status call (undocumented) refuses the remediator's Webex token while "
    "Webex's public SCIM API accepts the same token: the endpoint probably wants an administrator's session.",
    "Verification goes on without it: Microsoft Graph (service principals, admin-consent grants) and SCIM "
    "decide whether an incident is over. Nothing to do unless you want the extra corroboration "
    "(a Control Hub full administrator's token in WEBEX_ACCESS_TOKEN).",
)
SCIM_NOTICE = (
    "webex_scim_misconfigured",
    "The Webex SCIM check is misconfigured",
    "Webex's SCIM API answers 403 to the remediator's token: the token lacks the identity:people_read "
    "scope (a bot's token never has it), or WEBEX_ORG_ID is not the token's organization.",
    "Use a service app (or an administrator's token) with identity:people_read for this org; until then "
    "verification relies on Microsoft Graph and the status call.",
)


def _owed(text: tuple[str, str, str, str], once_key: str, evidence: str) -> NoticeOwed:
    kind, title, *lines = text
    return NoticeOwed(kind, title, tuple(lines), once_key, evidence=evidence, log_when_sent=True)


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


async def _status_with_retry(clients: CheckClients, token: str) -> tuple[SyncStatus, list[str]]:
    """The status call under the project's retry policy: a short ``Retry-After`` is honoured in
    process, a long one is returned (the run is rescheduled, never slept). Every failed call's
    ``trackingid`` is kept for Cisco support."""
    from shared.clients.webex_status import check_sync_status
    from shared.core.retry import with_retry

    s = clients.settings
    tracking: list[str] = []
    last: list[SyncStatus] = []

    async def once() -> SyncStatus:
        status = await check_sync_status(clients.http, s.webex_identity_base, s.webex_org_id, token)
        last.append(status)
        if status.verdict != "healthy" and status.tracking_id:
            tracking.append(status.tracking_id)
        if status.verdict == "degraded":  # no Retry-After: stamina's exponential backoff
            raise TransientError(f"Webex status answered {status.status}", retry_after=status.retry_after)
        return status

    try:
        return await with_retry(once), tracking
    except TransientError:
        final = last[-1]
        if final.status == 429 and final.retry_after is None:
            final = replace(final, retry_after=DEFAULT_429_BACKOFF)
        return final, tracking


def _evidence(status: SyncStatus, tracking: list[str]) -> str:
    earlier = [t for t in tracking if t != status.tracking_id]
    parts = [p for p in (
        f"HTTP {status.status}" if status.status is not None else None,
        f"trackingid {status.tracking_id}" if status.tracking_id else None,
        f"earlier failed calls: trackingid {', '.join(earlier)}" if earlier else None,
        status.excerpt,
    ) if p]  # fmt: skip
    return "; ".join(parts) or status.verdict


def auth_expired(exc: WebexAuthExpired, started: float) -> CheckResult:
    """A clear verdict, owing one notice per dead refresh token (not one per health tick)."""
    notice = NoticeOwed(
        kind="webex_authorization_expired",
        title="The Webex sync remediator's Webex authorization expired",
        lines=(
            "Re-authorize the service app in Control Hub → Management → Apps → Service apps, then store "
            "the new refresh token (Key Vault secret or app setting, as deployed).",
            "Until then the remediator cannot confirm whether Webex directory sync works.",
        ),
        once_key=f"webex-auth-expired:{exc.origin}",
        evidence=exc.detail,
    )
    return CheckResult(STATUS, "authorization_expired", str(exc), _ms(started), app_key="integration", owed=(notice,))


async def check_webex_status(clients: CheckClients) -> CheckResult:
    """Control Hub's sync status with our current token; a refused token is renewed once (not when
    this process learned the status call refuses a token SCIM accepts: :class:`WebexStatusMemory`)."""
    from shared.clients.webex_auth import WebexAuthExpired

    started = time.perf_counter()
    auth = clients.webex_auth
    try:
        token = await auth.access_token()
        if not token:
            return CheckResult(STATUS, "not_configured", "WEBEX_ACCESS_TOKEN (or a Webex service app) is not set", 0.0,
                               app_key="integration")  # fmt: skip
        status, tracking = await _status_with_retry(clients, token)
        if status.verdict == "unauthorized" and auth.refreshable and not clients.webex_status.refuses_our_token:
            token = await auth.renew() or token
            again, more = await _status_with_retry(clients, token)
            status, tracking = again, tracking + more
    except WebexAuthExpired as exc:
        return auth_expired(exc, started)
    except TransientError as exc:
        return CheckResult(STATUS, "degraded", f"Webex token: {exc}", _ms(started),
                           app_key="integration", retry_after=exc.retry_after)  # fmt: skip
    return CheckResult(
        STATUS,
        status.verdict,
        _evidence(status, tracking),
        _ms(started),
        app_key="integration",
        retry_after=status.retry_after,
    )


_AGREES = {
    ("healthy", "healthy"): "agrees with the status call",
    ("healthy", "consent_missing"): "our token reads the org, so the status 401 is the tenant's consent, not us",
    ("healthy", "unauthorized"): "the same token reads the org: the status endpoint does not accept it",
    ("unauthorized", "healthy"): "contradicts the status call: SCIM refuses the same token",
    ("unauthorized", "unauthorized"): "agrees: our token is refused",
}


async def check_webex_scim(
    clients: CheckClients, status_verdict: str | None, since: datetime | None = None
) -> CheckResult:
    """The public SCIM API's view (the call: :func:`shared.clients.webex_scim.check_scim`), compared
    with the status verdict. A token without the SCIM scope owes the admins one notice."""
    from shared.clients.webex_auth import WebexAuthExpired
    from shared.clients.webex_scim import check_scim as scim_call

    s = clients.settings
    started = time.perf_counter()
    try:
        token = await clients.webex_auth.access_token()
    except (WebexAuthExpired, TransientError) as exc:
        verdict = "authorization_expired" if isinstance(exc, WebexAuthExpired) else "degraded"
        return CheckResult(SCIM, verdict, str(exc), _ms(started), app_key="integration")
    answer = await scim_call(clients.http, s.webex_api_base, s.webex_org_id, token, s.webex_scim_canary_user_id)
    evidence = "; ".join(_scim_parts(answer, status_verdict, since)) or answer.verdict
    owed = (_owed(SCIM_NOTICE, "webex-scim-misconfigured", evidence),) if answer.verdict == "misconfigured" else ()
    return CheckResult(
        SCIM, answer.verdict, evidence, answer.elapsed_ms, app_key="integration", retry_after=answer.retry_after,
        owed=owed,
    )  # fmt: skip


def _scim_parts(answer: ScimAnswer, status_verdict: str | None, since: datetime | None) -> list[str]:
    parts: list[str] = []
    if answer.status is not None:
        parts.append(f"HTTP {answer.status}")
    if answer.total is not None:
        parts.append(f"org answers ({answer.total} users)")
    if answer.tracking_id and answer.verdict != "healthy":
        parts.append(f"trackingid {answer.tracking_id}")
    if answer.excerpt:
        parts.append(answer.excerpt)
    opinion = _AGREES.get((answer.verdict, status_verdict or ""))
    if opinion:
        parts.append(opinion)
    if answer.canary_modified is not None:
        moved = since is not None and answer.canary_modified > since
        parts.append(
            f"canary lastModified {format_timestamp(answer.canary_modified)}"
            + (" (synced since the incident opened)" if moved else " (no sync seen since)" if since else "")
        )
    return parts


def read_together(memory: WebexStatusMemory, status: CheckResult, scim: CheckResult) -> CheckResult:
    """The status verdict in the light of SCIM's. The status call refused our token but SCIM did not:
    the endpoint does not accept this kind of token (it is undocumented; Control Hub calls it with an
    admin's session). Not a verdict on the tenant, so it never blocks resolution; said once when SCIM
    proves the token good. SCIM refusing the token too makes the next 401 worth a renewal again."""
    if status.verdict == "unauthorized" and scim.verdict != "unauthorized":
        evidence = f"{status.evidence}; the status endpoint does not accept this token (SCIM: {scim.verdict})"
        owed = status.owed
        if scim.verdict == "healthy":
            memory.refuses_our_token = True  # renewing our token on its 401 would not help: not every run
            owed = (*owed, _owed(STATUS_NOTICE, "webex-status-token-not-accepted", status.evidence))
        return replace(status, verdict="token_not_accepted", evidence=evidence, owed=owed)
    if scim.verdict == "unauthorized":
        memory.refuses_our_token = False
    return status
