"""Incident fields on every log line, without threading them through every call.

Operators query Application Insights by incident and tenant ("everything that happened to incident
X"), so every line logged while an incident is being handled must carry ``incident_id`` and
``tenant_id`` as structured fields. Passing ``extra=`` at each call site misses the lines logged
deeper down (SDK retries, channel errors), so the fields live in a context variable bound where the
incident becomes known, and a log-record factory copies them onto every record created in that
context. Under OpenTelemetry (see ``shared.core.telemetry``) record attributes become custom dimensions.

Context variables follow asyncio tasks, so concurrent invocations in one worker never see each
other's fields.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any

#: The structured fields this project puts on log records (what the README's KQL queries use).
FIELDS = ("tenant_id", "incident_id", "app", "kind")

_EMPTY: Mapping[str, str] = MappingProxyType({})
_bound: ContextVar[Mapping[str, str]] = ContextVar("webex_remediator_log_fields", default=_EMPTY)
_MARK = "_adds_webex_log_fields"


def current() -> Mapping[str, str]:
    """The fields bound in this context (read-only)."""
    return _bound.get()


@contextlib.contextmanager
def bind(**fields: object) -> Iterator[Mapping[str, str]]:
    """Add ``fields`` (``None`` values are skipped) to every record logged inside the block.

    Nested blocks add to, and may override, the outer block's fields; leaving a block restores them.
    Unknown names are refused so a typo cannot silently create a dimension no query looks at.
    """
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise ValueError(f"unknown log field(s): {', '.join(unknown)}; known: {', '.join(FIELDS)}")
    merged = dict(_bound.get())
    merged.update({k: str(v) for k, v in fields.items() if v is not None})
    token = _bound.set(MappingProxyType(merged))
    try:
        yield _bound.get()
    finally:
        _bound.reset(token)


def install() -> None:
    """Wrap the log-record factory once so records pick up the bound fields.

    ``logging`` applies ``extra=`` after the factory and refuses to overwrite an attribute, so code
    binds these fields instead of passing them as ``extra`` (a test enforces it). Idempotent.
    """
    previous = logging.getLogRecordFactory()
    if getattr(previous, _MARK, False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        for key, value in _bound.get().items():
            if key not in record.__dict__:
                record.__dict__[key] = value
        return record

    setattr(factory, _MARK, True)
    logging.setLogRecordFactory(factory)
