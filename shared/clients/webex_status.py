"""Is Webex directory sync working? Control Hub's own status call, read tolerantly.

``GET {WEBEX_IDENTITY_BASE}/extIntegration/azureAD/{orgId}/v1/WebexApplications/status`` is the
call Control Hub makes (seen in the seed tech note); it is not a documented public API, so the host
is configurable and the parsing forgiving: a 401 whose body carries code ``701018`` means the
tenant's consent is gone, any other 401/403 means the endpoint refuses *our* token (whether the
token is dead or merely not an administrator's session, the SCIM call decides: :mod:`shared.checks.webex`).
A 2xx is healthy only when its body says so in a word we know (``"status": "ENABLED"``) and nothing
bad: an error code, or a ``status``/``state`` word such as ``ERROR`` or ``DISABLED`` on the org or an
application, makes it ``problem_reported`` (evidence kept, incident stays open); a body in a shape we
do not know is ``unknown`` — neither healthy nor broken, so Graph and SCIM decide alone.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

from shared.core.retry import parse_retry_after

CONSENT_MISSING_CODE = "701018"
EXCERPT = 300
TIMEOUT = httpx.Timeout(15.0, connect=5.0)


@dataclass(frozen=True, slots=True)
class SyncStatus:
    """A verdict with its evidence, for people (the CLI table) and for the incident row."""

    verdict: str  # healthy | consent_missing | problem_reported | unauthorized | degraded | unknown | not_configured
    status: int | None = None
    tracking_id: str | None = None
    excerpt: str | None = None
    retry_after: float | None = None
    elapsed_ms: float = 0.0

    @property
    def healthy(self) -> bool:
        return self.verdict == "healthy"


_BAD_WORDS = frozenset({
    "error", "failed", "failure", "disabled", "unauthorized", "invalid", "expired", "deleted", "missing",
    "not_found", "notfound", "revoked",
})  # fmt: skip


_GOOD_WORDS = frozenset({"enabled", "ok", "healthy", "active", "success", "succeeded"})
"""A 2xx is healthy only when it says so in a word we know (the seed's ``"status": "ENABLED"``): an
empty or unfamiliar body is ``unknown`` — neither healthy nor broken (the endpoint is undocumented)."""


def _status_words(body: Any) -> set[str]:
    """Lower-cased ``status``/``state`` values of the body and of its ``applications`` entries."""
    words: set[str] = set()
    items = [body] if isinstance(body, dict) else []
    if isinstance(body, dict):
        apps = next((v for k, v in body.items() if k.lower() == "applications"), None)
        if isinstance(apps, list):
            items.extend(a for a in apps[:50] if isinstance(a, dict))
    for item in items:
        for key, value in item.items():
            if key.lower() in ("status", "state") and isinstance(value, str):
                words.add(value.strip().lower())
    return words


def _codes(body: Any) -> set[str]:
    """Error codes anywhere the seed's shape (or a variant of it) puts them."""
    codes: set[str] = set()
    if not isinstance(body, dict):
        return codes
    error = body.get("error")
    if isinstance(error, dict):
        messages = error.get("message")
        if isinstance(messages, list):
            for m in messages:
                if isinstance(m, dict) and m.get("code") is not None:
                    codes.add(str(m["code"]))
        if error.get("code") is not None:
            codes.add(str(error["code"]))
    for key in ("code", "errorCode"):
        if body.get(key) is not None:
            codes.add(str(body[key]))
    return codes


def status_url(identity_base: str, org_id: str) -> str:
    from urllib.parse import quote

    return f"{identity_base.rstrip('/')}/extIntegration/azureAD/{quote(org_id, safe='')}/v1/WebexApplications/status"


def interpret(response: httpx.Response, elapsed_ms: float) -> SyncStatus:
    text = response.text[:4096] if response.content else ""
    body: Any = None
    if text:
        try:
            body = json.loads(text)
        except ValueError:
            body = None
    tracking = response.headers.get("trackingid") or (body.get("trackingId") if isinstance(body, dict) else None)
    base = {
        "status": response.status_code,
        "tracking_id": str(tracking)[:200] if tracking else None,
        "excerpt": text[:EXCERPT] or None,
        "elapsed_ms": elapsed_ms,
    }
    code = response.status_code
    if 200 <= code < 300:
        if text and body is None:
            return SyncStatus("unknown", **base)  # type: ignore[arg-type]
        codes = _codes(body)
        words = _status_words(body)
        if CONSENT_MISSING_CODE in codes:
            return SyncStatus("consent_missing", **base)  # type: ignore[arg-type]
        if codes or words & _BAD_WORDS:
            return SyncStatus("problem_reported", **base)  # type: ignore[arg-type]
        if words & _GOOD_WORDS:
            return SyncStatus("healthy", **base)  # type: ignore[arg-type]
        return SyncStatus("unknown", **base)  # type: ignore[arg-type]  # a shape we cannot read
    if code == 401 and CONSENT_MISSING_CODE in _codes(body):
        return SyncStatus("consent_missing", **base)  # type: ignore[arg-type]
    if code in (401, 403):
        return SyncStatus("unauthorized", **base)  # type: ignore[arg-type]
    if code in (408, 429) or code >= 500:
        return SyncStatus(
            "degraded",
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
            **base,  # type: ignore[arg-type]
        )
    return SyncStatus("unknown", **base)  # type: ignore[arg-type]


async def check_sync_status(http: httpx.AsyncClient, identity_base: str, org_id: str, token: str | None) -> SyncStatus:
    """One status call. Never raises for HTTP outcomes: every answer becomes a verdict."""
    if not token:
        return SyncStatus("not_configured", excerpt="WEBEX_ACCESS_TOKEN is not set")
    started = time.perf_counter()
    try:
        response = await http.get(
            status_url(identity_base, org_id),
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=TIMEOUT,
        )
    except httpx.TimeoutException:
        return SyncStatus("degraded", excerpt="timed out", elapsed_ms=(time.perf_counter() - started) * 1000)
    except httpx.TransportError as exc:
        return SyncStatus(
            "degraded", excerpt=f"unreachable: {type(exc).__name__}", elapsed_ms=(time.perf_counter() - started) * 1000
        )
    return interpret(response, (time.perf_counter() - started) * 1000)
