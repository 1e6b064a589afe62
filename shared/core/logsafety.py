"""Keep secrets that live in URLs out of third-party log lines.

httpx logs every request at INFO as ``HTTP Request: POST <url> "HTTP/1.1 202 Accepted"``, with the
full URL. A Teams workflow (Power Automate) URL carries its credential in the query (``sig=…``), so
that line would put the secret into Application Insights. The filter here, attached to httpx's
loggers, replaces every query string in a record's URL arguments with ``?<redacted>`` — whatever
level the host's ``host.json`` enables. Our own code never logs URLs with queries; tests scan every
log line of a whole lifecycle for the configured secrets (tests/test_secrets_in_logs.py).
"""

from __future__ import annotations

import logging
import re

_QUERY = re.compile(r"\?[^\s\"']*")
_LOGGERS = ("httpx", "httpcore")


def _redact(value: object) -> object:
    text = str(value) if type(value).__name__ == "URL" else value
    if isinstance(text, str) and "?" in text and "://" in text:
        return _QUERY.sub("?<redacted>", text)
    return value


class RedactUrlQueries(logging.Filter):
    """Rewrites a record's message and arguments so no URL keeps its query string."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_redact(a) for a in record.args)
        elif isinstance(record.msg, str):
            redacted = _redact(record.msg)
            record.msg = redacted if isinstance(redacted, str) else record.msg
        return True


_FILTER = RedactUrlQueries()


def install() -> None:
    """Attach the filter to the HTTP client loggers, and make every log record's arguments safe
    (secrets redacted, control characters escaped: :mod:`shared.core.redaction`). Idempotent, cheap:
    called per process."""
    from shared.core.redaction import install_record_factory

    install_record_factory()
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
