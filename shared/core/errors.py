"""The project's typed errors.

The split matters to the platform: a :class:`TransientError` makes a function fail so Event Grid,
the queue extension or an action group retries it; a :class:`PayloadError` is permanent and is
answered (HTTP 400) or logged, never retried forever.
"""

from __future__ import annotations


class RemediatorError(Exception):
    """Base class of every error the project raises on purpose."""


class PayloadError(RemediatorError):
    """Input that will never become valid by retrying: malformed, truncated, oversized or hostile.

    ``status`` is the HTTP answer an endpoint gives for it (400 by default, 413 too large,
    415 wrong media type).
    """

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class ConfigError(RemediatorError):
    """Settings are missing or invalid. The message lists every problem at once."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid configuration: " + "; ".join(self.problems))


class TransientError(RemediatorError):
    """A failure that may pass (429, 5xx, timeout, storage down): fail so the platform retries.

    ``retry_after`` carries the server's hint in seconds when it gave one.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        from shared.core.redaction import redact

        super().__init__(redact(message))  # may quote an upstream answer: shown in notices and logs
        self.retry_after = retry_after


class UpstreamError(RemediatorError):
    """A definitive non-retriable answer from Graph, Log Analytics or Webex (e.g. 403)."""

    def __init__(self, message: str, *, status: int | None = None, tracking_id: str | None = None) -> None:
        from shared.core.redaction import redact

        super().__init__(redact(message))  # quotes the upstream answer: shown in notices and logs
        self.status = status
        self.tracking_id = tracking_id
