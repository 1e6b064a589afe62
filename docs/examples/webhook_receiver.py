"""Verify the Webex sync remediator's signed webhook deliveries — copy this file into your receiver.

Standard library only. Tested by the project (tests/test_webhook_receiver.py) against real
deliveries; the scheme is described in docs/deploy.md ("The generic webhook").

    verifier = WebhookVerifier(secret=b"<NOTIFY_WEBHOOK_SECRET>")
    verdict = verifier.check(raw_body_bytes, request_headers)
    if verdict is Verdict.INVALID:   answer 401, do nothing
    if verdict is Verdict.REPLAY:    answer 200, do nothing (already taken: a replay, or our retry)
    if verdict is Verdict.NEW:       act on the notice, answer 2xx

Answer 2xx to a ``REPLAY`` with a valid signature: it is either an attacker's copy of a request you
already took (nothing happens) or our own retry of a delivery whose first answer we did not get —
a 4xx would make us retry it until we give up and report the channel as failing.

Ids are remembered in memory for as long as a copy of the request could pass the time check
(timestamp + tolerance). That is what stops replays. To also drop our retries after a restart or
across several receiver instances, keep the ids in your database for a day instead.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import threading
import time
from collections.abc import Callable, Mapping

SIGNATURE_HEADER = "X-Remediator-Signature"
TIMESTAMP_HEADER = "X-Remediator-Timestamp"
DELIVERY_HEADER = "X-Remediator-Delivery"
DEFAULT_TOLERANCE = 300  # seconds a signed request stays valid either side of your clock

_DIGITS = frozenset("0123456789")
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._")


class Verdict(enum.Enum):
    NEW = "new"  # genuine, first time seen: act on it
    REPLAY = "replay"  # genuine, already taken within the window: do not act again
    INVALID = "invalid"  # not from us (or too old, or malformed): reject


def _header(headers: Mapping[str, str], name: str) -> str:
    """A header value whatever the letter case of its name ("" when missing or not text)."""
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if isinstance(k, str) and k.lower() == lowered), None)
    return value if isinstance(value, str) else ""


class WebhookVerifier:
    """Checks signature, time and delivery id; remembers the ids it accepted within the window.

    Thread-safe. Only requests with a valid signature are remembered, so nobody without the
    secret can fill the memory; ``max_remembered`` bounds it anyway (oldest dropped first).
    """

    def __init__(
        self,
        secret: bytes,
        *,
        tolerance: int = DEFAULT_TOLERANCE,
        max_remembered: int = 100_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(secret, bytes) or not secret:
            raise ValueError("secret must be the non-empty NOTIFY_WEBHOOK_SECRET as bytes")
        self._secret = secret
        self._tolerance = tolerance
        self._max = max_remembered
        self._clock = clock
        self._seen: dict[str, float] = {}  # delivery id -> when a copy can no longer pass the time check
        self._lock = threading.Lock()

    def check(self, body: bytes, headers: Mapping[str, str]) -> Verdict:
        timestamp = _header(headers, TIMESTAMP_HEADER)
        delivery = _header(headers, DELIVERY_HEADER)
        signature = _header(headers, SIGNATURE_HEADER)
        # ASCII digits only: "²".isdigit() is true and int("²") raises; bound the length too.
        if not 0 < len(timestamp) <= 12 or not set(timestamp) <= _DIGITS:
            return Verdict.INVALID
        if not 0 < len(delivery) <= 100 or not set(delivery) <= _ID_CHARS:
            return Verdict.INVALID
        if not signature.isascii():  # compare_digest would raise on non-ASCII text
            return Verdict.INVALID
        sent_at = int(timestamp)
        now = self._clock()
        if abs(now - sent_at) > self._tolerance:
            return Verdict.INVALID
        message = timestamp.encode("ascii") + b"." + delivery.encode("ascii") + b"." + body
        expected = b"sha256=" + hmac.new(self._secret, message, hashlib.sha256).hexdigest().encode("ascii")
        if not hmac.compare_digest(expected, signature.encode("ascii")):  # bytes: constant time
            return Verdict.INVALID
        return self._remember(delivery, sent_at + self._tolerance, now)

    def _remember(self, delivery: str, until: float, now: float) -> Verdict:
        with self._lock:
            while self._seen:  # oldest first; stops at the first id still within its window
                oldest = next(iter(self._seen))
                if self._seen[oldest] >= now:
                    break
                del self._seen[oldest]
            if delivery in self._seen:
                self._seen[delivery] = max(self._seen[delivery], until)
                return Verdict.REPLAY
            while len(self._seen) >= self._max:
                del self._seen[next(iter(self._seen))]
            self._seen[delivery] = until
            return Verdict.NEW
