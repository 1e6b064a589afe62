"""Signed action links ("Check now", "Acknowledge") in notices: pure, no I/O.

A token is ``<payload>.<mac>``, both base64url without padding. The payload is compact JSON naming
the tenant, the app, the incident, the action and the expiry (Unix seconds); the MAC is HMAC-SHA256
over a domain prefix and the payload's base64 text, under the current key or — during a rotation —
the previous one. Compared with :func:`hmac.compare_digest`. Nothing in a token is trusted until
its MAC matches; only then is its JSON read, and strictly.

Errors say which rule refused the token (forged, expired, wrong incident, wrong action, malformed,
oversized): the HTTP function answers 403 to all of them and logs the reason, never the token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

LINK_LIFETIME = timedelta(days=7)
MAX_TOKEN_CHARS = 1024
"""Longer tokens are refused before any decoding (the payload of a real token is ~200 characters)."""
MIN_KEY_BYTES = 32
_DOMAIN = b"webex-remediator/action-link/v1."
_VERSION = 1
_MAX_ID = 200
_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


class LinkAction(StrEnum):
    CHECK_NOW = "check_now"
    ACKNOWLEDGE = "acknowledge"


class LinkError(ValueError):
    """A token that must be refused; ``reason`` is one of the class names below, for logs."""

    reason = "invalid"


class MalformedLink(LinkError):
    reason = "malformed"


class OversizedLink(LinkError):
    reason = "oversized"


class ForgedLink(LinkError):
    reason = "forged"


class ExpiredLink(LinkError):
    reason = "expired"


class WrongIncident(LinkError):
    reason = "wrong_incident"


class WrongAction(LinkError):
    reason = "wrong_action"


@dataclass(frozen=True, slots=True)
class LinkClaims:
    """What a verified token binds: one action on one incident, until ``expires``."""

    tenant_id: str
    app_key: str
    incident_id: str
    action: LinkAction
    expires: int  # Unix seconds


@dataclass(frozen=True, slots=True)
class LinkKeys:
    """The current signing key and, during a rotation, the previous one (still verifies)."""

    current: bytes
    previous: bytes | None = None

    def __post_init__(self) -> None:
        for key in (self.current, self.previous):
            if key is not None and len(key) < MIN_KEY_BYTES:
                raise ValueError(f"an action-link key must be at least {MIN_KEY_BYTES} bytes")

    @classmethod
    def from_text(cls, current: str, previous: str | None = None) -> LinkKeys:
        return cls(current.encode("utf-8"), previous.encode("utf-8") if previous else None)

    @property
    def all(self) -> Sequence[bytes]:
        return (self.current,) if self.previous is None else (self.current, self.previous)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not text or not set(text) <= _B64URL or len(text) % 4 == 1:
        raise MalformedLink("not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise MalformedLink("not base64url") from None


def _mac(key: bytes, payload_b64: str) -> bytes:
    return hmac.new(key, _DOMAIN + payload_b64.encode("ascii"), hashlib.sha256).digest()


def _check_id(name: str, value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > _MAX_ID or any(ord(c) < 0x21 for c in value):
        raise MalformedLink(f"{name} is not an id")
    return value


def sign(claims: LinkClaims, keys: LinkKeys) -> str:
    """The token for ``claims``, signed with the current key."""
    body = {
        "v": _VERSION,
        "t": _check_id("tenant", claims.tenant_id),
        "a": _check_id("app", claims.app_key),
        "i": _check_id("incident", claims.incident_id),
        "x": str(LinkAction(claims.action)),
        "e": int(claims.expires),
    }
    payload = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode("utf-8"))
    return f"{payload}.{_b64(_mac(keys.current, payload))}"  # ids <= 200 chars: always within MAX_TOKEN_CHARS


def issue(*, tenant_id: str, app_key: str, incident_id: str, action: LinkAction, now: datetime, keys: LinkKeys) -> str:
    """A token valid for :data:`LINK_LIFETIME` from ``now``."""
    expires = int((now + LINK_LIFETIME).timestamp())
    return sign(LinkClaims(tenant_id, app_key, incident_id, action, expires), keys)


def _claims(raw: Any) -> LinkClaims:
    if not isinstance(raw, dict) or set(raw) != {"v", "t", "a", "i", "x", "e"} or raw["v"] != _VERSION:
        raise MalformedLink("unexpected payload fields")
    expires = raw["e"]
    if not isinstance(expires, int) or isinstance(expires, bool) or not 0 < expires < 2**40:
        raise MalformedLink("expiry is not a timestamp")
    try:
        action = LinkAction(raw["x"])
    except ValueError:
        raise MalformedLink("unknown action") from None
    return LinkClaims(_check_id("tenant", raw["t"]), _check_id("app", raw["a"]), _check_id("incident", raw["i"]),
                      action, expires)  # fmt: skip


def verify(
    token: object,
    keys: LinkKeys,
    *,
    now: datetime,
    incident_id: str | None = None,
    action: LinkAction | str | None = None,
) -> LinkClaims:
    """The claims of a genuine, unexpired token, or a :class:`LinkError` saying why not. With
    ``incident_id`` / ``action`` given, the token must be bound to exactly those."""
    if not isinstance(token, str):
        raise MalformedLink("not text")
    if len(token) > MAX_TOKEN_CHARS:
        raise OversizedLink(f"longer than {MAX_TOKEN_CHARS} characters")
    payload, dot, mac_text = token.partition(".")
    if not dot or "." in mac_text:
        raise MalformedLink("not <payload>.<signature>")
    mac = _unb64(mac_text)
    _unb64(payload)  # shape first; the MAC is over the text as received
    if len(mac) != hashlib.sha256().digest_size:
        raise MalformedLink("signature has the wrong length")
    # Every key is tried (no early exit on a match), so the time taken does not tell which key signed.
    matches = [hmac.compare_digest(_mac(key, payload), mac) for key in keys.all]
    if not any(matches):
        raise ForgedLink("signature does not match")
    try:
        raw = json.loads(_unb64(payload).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise MalformedLink("payload is not JSON") from None
    claims = _claims(raw)
    if now.timestamp() >= claims.expires:
        raise ExpiredLink("link expired")
    if incident_id is not None and claims.incident_id != incident_id:
        raise WrongIncident("link is for another incident")
    if action is not None and claims.action != action:
        raise WrongAction("link is for another action")
    return claims


ROUTE = "actions/{token}"
"""The HTTP function's route (functions/actions.py), under the host's ``/api`` prefix."""


def link_url(base_url: str, token: str) -> str:
    """The link put in a notice: ``<PUBLIC_BASE_URL>/api/actions/<token>`` (a token is URL-safe)."""
    return f"{base_url.rstrip('/')}/api/{ROUTE.format(token=token)}"


def action_urls(
    base_url: str, *, tenant_id: str, app_key: str, incident_id: str, now: datetime, keys: LinkKeys
) -> tuple[str, str]:
    """``(check_now_url, acknowledge_url)`` of one incident (the notice view's fields)."""

    def url(action: LinkAction) -> str:
        token = issue(tenant_id=tenant_id, app_key=app_key, incident_id=incident_id, action=action, now=now, keys=keys)
        return link_url(base_url, token)

    return url(LinkAction.CHECK_NOW), url(LinkAction.ACKNOWLEDGE)
