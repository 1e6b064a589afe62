"""Secrets out of upstream text, and control characters out of log lines (docs/security.md, points 8, 9).

Text that came from Graph, Log Analytics, Key Vault or Webex (an error message, a response excerpt)
is shown to people: in the admins' notices, in ``check`` evidence, in log lines. A broken or hostile
endpoint can put anything there — a token endpoint that echoes the form it received returns the
client secret and the refresh token. :func:`redact` is the one function every such place uses:

* the secrets this process knows (:func:`remember_secret`: the configured client secret, refresh
  token, access and bot tokens, webhook key; every token Webex hands out), verbatim and
  form-encoded;
* anything shaped like a credential: ``client_secret=…``, ``refresh_token=…``, ``access_token=…``
  (form and JSON), ``Authorization``/``Bearer …``, JWTs (``eyJ…``), long base64/hex runs (40+
  characters: secrets and tokens, never a GUID, an appId or a trackingid).

:class:`SafeLogRecords` applies it, and :func:`escape_controls`, to every argument of every log
record this process creates: CR, LF and the other C0/C1 controls become visible escapes, so an id
carrying ``\\r\\nCRITICAL … resolved`` cannot start a forged line of its own.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "<redacted>"
MIN_SECRET = 8
"""Shorter values are not remembered: replacing them would shred ordinary words."""

_known: set[str] = set()

_KEYS = (
    r"client_secret|clientSecret|refresh_token|refreshToken|access_token|accessToken|id_token|"
    r"client_assertion|assertion|password|secret|sig|token"
)
_FORM = re.compile(rf"(?i)\b({_KEYS})=[^&\s\"',;]+")
_JSON = re.compile(rf"(?i)(\"(?:{_KEYS})\"\s*:\s*)\"(?:[^\"\\]|\\.)*\"")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}(?:\.[A-Za-z0-9_-]*)?")
_LONG_RUN = re.compile(r"(?<![A-Za-z0-9+_~-])[A-Za-z0-9+_~-]{40,}={0,2}")
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\r": "\\r", "\n": "\\n", "\t": "\\t"}


def remember_secret(value: str | None) -> None:
    """Redact ``value`` wherever upstream text is shown from now on (this process)."""
    if value and len(value) >= MIN_SECRET:
        _known.add(value)


def forget_secrets() -> None:
    """Tests start each case with no remembered secret."""
    _known.clear()


def _long_run(match: re.Match[str]) -> str:
    """A run of 40+ token characters with letters and digits is a credential; ids joined by
    dashes (GUIDs, ``state-<guid>`` keys) and plain words are not."""
    run = match.group()
    if _GUID.search(run) or not any(c.isdigit() for c in run) or not any(c.isalpha() for c in run):
        return run
    return MASK


def redact(text: str, extra: Iterable[str | None] = ()) -> str:
    """``text`` with every known secret (and ``extra``) and every credential-shaped run masked."""
    secrets = {s for s in (*_known, *extra) if s and len(s) >= MIN_SECRET}
    for secret in sorted(secrets, key=len, reverse=True):
        encoded = {quote_plus(secret), quote(secret, safe="")}
        for form in {secret, *encoded, *(e.replace("~", "%7E") for e in encoded)}:
            if form in text:
                text = text.replace(form, MASK)
    text = _FORM.sub(lambda m: f"{m.group(1)}={MASK}", text)
    text = _JSON.sub(lambda m: f'{m.group(1)}"{MASK}"', text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", text)
    text = _JWT.sub(MASK, text)
    return _LONG_RUN.sub(_long_run, text)


def escape_controls(text: str) -> str:
    """CR, LF, TAB and every other C0/C1 control (and U+2028/2029) as a visible escape."""
    return text.translate(_ESCAPES) if _CONTROL.search(text) else text


_ESCAPES = {
    code: _NAMED.get(chr(code)) or (f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}")
    for code in (*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029)
}


def safe_log_value(value: object) -> object:
    """A log argument as it may be written: numbers as they are; text (and anything printed as
    text: exceptions, URLs, ids) redacted and with its control characters escaped."""
    if value is None or isinstance(value, bool | int | float):
        return value
    return escape_controls(redact(value if isinstance(value, str) else str(value)))


class SafeLogRecords:
    """A log-record factory around the current one: every record's arguments pass
    :func:`safe_log_value`; a message without arguments (already formatted text) too."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = self.inner(*args, **kwargs)
        if isinstance(record.args, Mapping):
            record.args = {k: safe_log_value(v) for k, v in record.args.items()}
        elif record.args:
            record.args = tuple(safe_log_value(a) for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = escape_controls(redact(record.msg))
        return record


def install_record_factory() -> None:
    """Wrap the process's log-record factory once (idempotent)."""
    current = logging.getLogRecordFactory()
    if not isinstance(current, SafeLogRecords):
        logging.setLogRecordFactory(SafeLogRecords(current))
