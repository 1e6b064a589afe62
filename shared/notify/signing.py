"""Signing for the generic webhook, so receivers can tell our notices from forged or replayed ones.

Scheme (documented for receivers in docs/deploy.md; a tested receiver: docs/examples/webhook_receiver.py)::

    X-Remediator-Timestamp: <unix seconds, ASCII digits>
    X-Remediator-Delivery:  <delivery id: a UUID, the same for every retry of one delivery>
    X-Remediator-Signature: sha256=<hex HMAC-SHA256(secret, f"{timestamp}.{delivery}." + body)>

``body`` is the exact request body bytes. The timestamp bounds how long a captured request stays
valid (300 s by default); the delivery id, signed with it, lets a receiver remember what it has
already taken within that window, so a replay inside it is recognised too. A retry of a delivery
is signed anew (new timestamp) with the same delivery id, so the receiver can also drop our own
duplicates. :func:`verify_webhook` is the stateless half (signature and time); remembering ids is
the receiver's (see the example).
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid

SIGNATURE_HEADER = "X-Remediator-Signature"
TIMESTAMP_HEADER = "X-Remediator-Timestamp"
DELIVERY_HEADER = "X-Remediator-Delivery"
_PREFIX = "sha256="
_MAX_TIMESTAMP_DIGITS = 12
_MAX_DELIVERY_ID = 100
_DELIVERY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._")
_DELIVERY_NAMESPACE = uuid.UUID("6f0e1d2c-3b4a-5968-8776-a5b4c3d2e1f0")


def delivery_id_for(*parts: str) -> str:
    """A delivery id that is the same every time for the same ``parts`` (tenant, incident, channel,
    notice key): retries of one delivery carry one id, two deliveries never share one."""
    return str(uuid.uuid5(_DELIVERY_NAMESPACE, "\x1f".join(parts)))


def new_delivery_id() -> str:
    """A delivery id for a one-off send that is never retried as such."""
    return str(uuid.uuid4())


def is_delivery_id(value: object) -> bool:
    """``value`` is a delivery id a receiver may accept: 1-100 ASCII letters, digits, ``-._``."""
    return isinstance(value, str) and 0 < len(value) <= _MAX_DELIVERY_ID and set(value) <= _DELIVERY_CHARS


def sign_webhook(body: bytes, secret: bytes, timestamp: int, delivery_id: str) -> str:
    """The ``X-Remediator-Signature`` value for ``body`` of ``delivery_id`` sent at ``timestamp``."""
    if not is_delivery_id(delivery_id):
        raise ValueError("delivery id must be 1-100 ASCII letters, digits, '-', '.' or '_'")
    message = f"{int(timestamp)}.{delivery_id}.".encode("ascii") + body
    return _PREFIX + hmac.new(secret, message, hashlib.sha256).hexdigest()


def signature_headers(body: bytes, secret: bytes, *, delivery_id: str, now: float | None = None) -> dict[str, str]:
    """The three headers for one delivery attempt, stamped with ``now`` (default: the current time)."""
    timestamp = int(time.time() if now is None else now)
    return {
        TIMESTAMP_HEADER: str(timestamp),
        DELIVERY_HEADER: delivery_id,
        SIGNATURE_HEADER: sign_webhook(body, secret, timestamp, delivery_id),
    }


def verify_webhook(
    body: bytes,
    secret: bytes,
    signature: object,
    timestamp: object,
    *,
    delivery_id: object,
    tolerance: float = 300.0,
    now: float | None = None,
) -> bool:
    """Receiver side, stateless: true when ``signature`` matches and ``timestamp`` is within
    ``tolerance``. Never raises on header values (``"²"``, non-ASCII, missing): they are false."""
    if not isinstance(timestamp, str) or not 0 < len(timestamp) <= _MAX_TIMESTAMP_DIGITS:
        return False
    if not (timestamp.isascii() and timestamp.isdigit()):  # "²".isdigit() is true, int("²") raises
        return False
    if not is_delivery_id(delivery_id) or not isinstance(signature, str) or not signature.isascii():
        return False
    ts = int(timestamp)
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance:
        return False
    expected = sign_webhook(body, secret, ts, str(delivery_id)).encode("ascii")
    return hmac.compare_digest(expected, signature.encode("ascii"))
