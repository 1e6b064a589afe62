"""A second opinion on Webex directory sync from the public, documented API: SCIM 2.0.

Control Hub's status call is undocumented and may change; SCIM is Webex's published identity API at
``https://webexapis.com/identity/scim/{orgId}/v2/Users`` — note: *not* under ``/v1``, so the base is
``WEBEX_API_BASE`` with its ``/v1`` taken off. ``count=1`` keeps the answer tiny. Its value here:

- the org answers with our token → our token is fine, so a 401 from the status call is about the
  tenant's consent, not about us (and the reverse: SCIM refusing the same token contradicts a
  "healthy" status);
- optionally a *canary* user (``WEBEX_SCIM_CANARY_USER_ID``, a user synced from Entra) whose
  ``meta.lastModified`` moves when a sync touches it: a time after the incident opened shows that
  sync really ran again.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from shared.core.clock import parse_timestamp
from shared.core.retry import parse_retry_after

TIMEOUT = httpx.Timeout(15.0, connect=5.0)
EXCERPT = 200


@dataclass(frozen=True, slots=True)
class ScimAnswer:
    verdict: str  # healthy | unauthorized | misconfigured (403: no SCIM scope) | degraded | unknown | not_configured
    status: int | None = None
    tracking_id: str | None = None
    total: int | None = None
    excerpt: str | None = None
    retry_after: float | None = None
    canary_modified: datetime | None = None
    elapsed_ms: float = 0.0


def scim_base(api_base: str) -> str:
    """``https://webexapis.com/v1`` → ``https://webexapis.com/identity/scim``."""
    base = api_base.rstrip("/")
    if base.endswith("/v1"):
        base = base[: -len("/v1")]
    return base + "/identity/scim"


def users_url(api_base: str, org_id: str) -> str:
    return f"{scim_base(api_base)}/{quote(org_id, safe='')}/v2/Users"


def _body(response: httpx.Response) -> Any:
    try:
        return json.loads(response.text[:65536]) if response.content else None
    except ValueError:
        return None


def _message(body: Any) -> str:
    """Webex's error ``message`` (``{message, errors[{description}], trackingId}``), clipped."""
    message = body.get("message") if isinstance(body, dict) else None
    return message[:EXCERPT] if isinstance(message, str) else "no message"


def _verdict(response: httpx.Response) -> str:
    code = response.status_code
    if 200 <= code < 300:
        return "healthy"
    if code == 403:
        # The token is good but lacks the SCIM scope (identity:people_read; a bot's token never has it)
        # or is not of this org: a configuration problem to tell the admins once (shared.checks.webex), not
        # Webex down, and no reason to keep an incident open over it.
        return "misconfigured"
    if code == 401:
        return "unauthorized"
    if code in (408, 429) or code >= 500:
        return "degraded"
    return "unknown"


async def check_scim(
    http: httpx.AsyncClient, api_base: str, org_id: str, token: str | None, canary_user_id: str | None = None
) -> ScimAnswer:
    """One list call (and one canary read when configured). Never raises for HTTP outcomes."""
    if not token:
        return ScimAnswer("not_configured", excerpt="no Webex token configured")
    started = time.perf_counter()
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/scim+json, application/json"}
    try:
        response = await http.get(users_url(api_base, org_id), params={"count": "1"}, headers=headers, timeout=TIMEOUT)
        canary = None
        if canary_user_id and 200 <= response.status_code < 300:
            canary = await http.get(
                f"{users_url(api_base, org_id)}/{quote(canary_user_id, safe='')}", headers=headers, timeout=TIMEOUT
            )
    except httpx.HTTPError as exc:
        return ScimAnswer(
            "degraded", excerpt=f"unreachable: {type(exc).__name__}", elapsed_ms=(time.perf_counter() - started) * 1000
        )
    elapsed = (time.perf_counter() - started) * 1000
    body = _body(response)
    verdict = _verdict(response)
    total = body.get("totalResults") if isinstance(body, dict) else None
    if verdict == "healthy" and not isinstance(total, int):
        verdict = "unknown"  # 2xx without a SCIM ListResponse
    modified = None
    if canary is not None:
        user = _body(canary)
        meta = user.get("meta") if isinstance(user, dict) else None
        modified = parse_timestamp(meta.get("lastModified")) if isinstance(meta, dict) else None
    return ScimAnswer(
        verdict,
        status=response.status_code,
        tracking_id=response.headers.get("trackingid"),
        total=total if isinstance(total, int) else None,
        excerpt=None
        if verdict == "healthy"
        else f"403: the token lacks the SCIM scope (identity:people_read) or is not of this org; {_message(body)}"
        if response.status_code == 403
        else (response.text[:EXCERPT] or None),
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
        canary_modified=modified,
        elapsed_ms=elapsed,
    )
