"""Signing for the generic webhook, so receivers can tell our notices from forged ones.

Scheme (documented for receivers)::

    X-Remediator-Timestamp: <unix seconds>
    X-Remediator-Signature: sha256=<hex HMAC-SHA256(secret, f"{timestamp}." + body)>

``body`` is the exact request body bytes. Signing the timestamp with the body lets a receiver reject
replays: verify the signature with a constant-time compare, then refuse timestamps older than a few
minutes (:func:`verify_webhook` does both; 300 s by default).
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Remediator-Signature"
TIMESTAMP_HEADER = "X-Remediator-Timestamp"
_PREFIX = "sha256="


def sign_webhook(body: bytes, secret: bytes, timestamp: int) -> str:
    """The ``X-Remediator-Signature`` value for ``body`` sent at ``timestamp`` (unix seconds)."""
    mac = hmac.new(secret, f"{int(timestamp)}.".encode("ascii") + body, hashlib.sha256)
    return _PREFIX + mac.hexdigest()


def signature_headers(body: bytes, secret: bytes, *, now: float | None = None) -> dict[str, str]:
    """Both headers for one delivery, stamped with ``now`` (default: the current time)."""
    timestamp = int(time.time() if now is None else now)
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign_webhook(body, secret, timestamp)}


def verify_webhook(
    body: bytes,
    secret: bytes,
    signature: str,
    timestamp: str,
    *,
    tolerance: float = 300.0,
    now: float | None = None,
) -> bool:
    """Receiver side: true when ``signature`` matches and ``timestamp`` is within ``tolerance``."""
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        return False
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance:
        return False
    return hmac.compare_digest(sign_webhook(body, secret, ts).encode("ascii"), signature.encode("ascii", "replace"))
