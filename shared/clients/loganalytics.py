"""Re-query the Log Analytics workspace for the audit rows behind a log search alert.

azure-monitor-query's async ``LogsQueryClient`` with the endpoint from settings
(``LOG_ANALYTICS_ENDPOINT``; its token audience follows the endpoint, which is right for national
clouds). Rows come back as plain dicts keyed by column name, datetimes as ISO text, so the same
normalizer reads them as it reads rows exported any other way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.clients.sdk_waits import clock_transport
from shared.core.clock import format_timestamp
from shared.core.errors import TransientError, UpstreamError
from shared.core.retry import with_retry

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential

SERVER_TIMEOUT = 60
# azure-core's default retry policy sleeps any Retry-After in-process (a 429 with "Retry-After: 600"
# held the invocation ten minutes) and backs off up to 120 s. Status retries are off here: with_retry
# (stamina) retries with bounded waits and hands a long Retry-After back to the platform; a dropped
# connection is still retried twice with short backoff, waiting on the project clock (sdk_waits).
_SDK_RETRY = {"retry_total": 2, "retry_status": 0, "retry_backoff_factor": 0.5, "retry_backoff_max": 4}
MAX_ROWS = 10_000


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_timestamp(value)
    return value


MAX_SPLIT_DEPTH = 4
"""A partial result narrows the window: halves, down to 1/16 of it, then what came back is kept."""
MIN_SPAN = timedelta(seconds=2)


@dataclass(slots=True)
class WindowRows:
    """The rows of a window; ``partial`` is the service's partial-error text when one was met
    (``complete`` says whether narrowing the window got every part whole after all)."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    partial: str | None = None
    complete: bool = True
    queries: int = 0


def partial_text(error: Any) -> str:
    """A partial result's error (``LogsQueryError``: code, message, details), short and readable."""
    code, message = getattr(error, "code", None), getattr(error, "message", None)
    details = getattr(error, "details", None)
    inner = []
    if isinstance(details, list):
        for d in details[:3]:
            text = d.get("message") if isinstance(d, dict) else None
            if isinstance(text, str):
                inner.append(text)
    return "; ".join(str(p)[:300] for p in (code, message, *inner) if p) or "partial result"


def _reason(exc: Any) -> str:
    """The documented error's codes and innermost message (logs/api/errors: ``{"error": {"code",
    "message", "innererror": {"code", "message"}}}``), e.g. the column a 400 could not resolve."""
    error = getattr(exc, "error", None)
    parts = [getattr(error, "code", None)]
    inner = getattr(error, "innererror", None)
    depth = 0
    while isinstance(inner, dict) and depth < 5:
        parts += [inner.get("code"), inner.get("message")]
        inner, depth = inner.get("innererror"), depth + 1
    text = ": ".join(str(p)[:200] for p in parts if isinstance(p, str) and p)
    return f" ({text[:400]}); check ALERT_QUERY" if text else ""


def _row_key(row: dict[str, Any]) -> str:
    ident = row.get("Id")
    return f"id:{ident}" if isinstance(ident, str) and ident else json.dumps(row, sort_keys=True, default=str)


async def query_window(
    credential: AsyncTokenCredential,
    *,
    endpoint: str,
    workspace_id: str,
    query: str,
    start: datetime,
    end: datetime,
) -> WindowRows:
    """Run ``query`` over [start, end] and return the primary table's rows as dicts.

    A partial result (200 with an ``error`` beside the tables: the service hit a limit such as the
    result size; learn.microsoft.com/azure/azure-monitor/logs/api/response-format) is not retried
    as it is — the same query meets the same limit, and retrying it sent the intake message to the
    poison queue. The window is split in halves instead (at most :data:`MAX_SPLIT_DEPTH` levels),
    so each part stays under the limit and every record is still read; the caller reports it once.
    """
    from azure.monitor.query.aio import LogsQueryClient

    out = WindowRows()
    seen: set[str] = set()
    async with LogsQueryClient(credential, endpoint=endpoint, transport=clock_transport(), **_SDK_RETRY) as client:

        async def read(lo: datetime, hi: datetime, depth: int) -> None:
            rows, partial = await with_retry(lambda: _query_once(client, workspace_id, query, lo, hi))
            out.queries += 1
            if partial is not None and depth < MAX_SPLIT_DEPTH and hi - lo > MIN_SPAN:
                out.partial = out.partial or partial
                mid = lo + (hi - lo) / 2
                await read(lo, mid, depth + 1)
                await read(mid, hi, depth + 1)
                return
            if partial is not None:
                out.partial, out.complete = out.partial or partial, False
            for row in rows:  # the halves share their boundary instant: a row there comes twice
                key = _row_key(row)
                if key not in seen:
                    seen.add(key)
                    out.rows.append(row)
            if len(out.rows) > MAX_ROWS:
                raise UpstreamError("Log Analytics query returned too many rows; narrow ALERT_QUERY")

        await read(start, end, 0)
    return out


async def _query_once(
    client: Any, workspace_id: str, query: str, start: datetime, end: datetime
) -> tuple[list[dict[str, Any]], str | None]:
    """One query: its rows, and the partial error's text when the answer was partial."""
    from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError
    from azure.monitor.query import LogsQueryStatus

    try:
        response = await client.query_workspace(
            workspace_id, query, timespan=(start, end), server_timeout=SERVER_TIMEOUT
        )
    except HttpResponseError as exc:
        status = exc.status_code
        if status is not None and status < 400:  # a 2xx whose body the SDK could not decode
            raise TransientError("Log Analytics sent an unreadable answer") from exc
        if status is None or status in (408, 429) or status >= 500:
            retry_after = None
            if exc.response is not None:
                from shared.core.retry import parse_retry_after

                headers = getattr(exc.response, "headers", None) or {}
                retry_after = parse_retry_after(headers.get("Retry-After"))
            raise TransientError(f"Log Analytics answered {status}", retry_after=retry_after) from exc
        raise UpstreamError(f"Log Analytics answered {status}{_reason(exc)}", status=status) from exc
    except (ServiceRequestError, ServiceResponseError) as exc:
        raise TransientError(f"Log Analytics unreachable: {type(exc).__name__}") from exc
    except ValueError as exc:  # an unreadable body
        raise TransientError("Log Analytics sent an unreadable answer") from exc
    partial = None
    if response.status == LogsQueryStatus.SUCCESS:
        tables = response.tables
    else:
        tables = response.partial_data or []
        partial = partial_text(response.partial_error)
    rows: list[dict[str, Any]] = []
    for table in tables[:1]:
        names = [str(c) for c in table.columns]
        rows.extend({n: _cell(v) for n, v in zip(names, row, strict=False)} for row in table.rows[: MAX_ROWS + 1])
    return rows, partial
