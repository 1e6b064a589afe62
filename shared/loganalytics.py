"""Re-query the Log Analytics workspace for the audit rows behind a log search alert.

azure-monitor-query's async ``LogsQueryClient`` with the endpoint from settings
(``LOG_ANALYTICS_ENDPOINT``; its token audience follows the endpoint, which is right for national
clouds). Rows come back as plain dicts keyed by column name, datetimes as ISO text, so the same
normalizer reads them as it reads rows exported any other way.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.errors import TransientError, UpstreamError
from shared.retry import with_retry
from shared.timeutil import format_timestamp

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential

SERVER_TIMEOUT = 60
# azure-core's default retry policy sleeps any Retry-After in-process (a 429 with "Retry-After: 600"
# held the invocation ten minutes) and backs off up to 120 s. Status retries are off here: with_retry
# (stamina) retries with bounded waits and hands a long Retry-After back to the platform; a dropped
# connection is still retried twice with short backoff.
_SDK_RETRY = {"retry_total": 2, "retry_status": 0, "retry_backoff_factor": 0.5, "retry_backoff_max": 4}
MAX_ROWS = 10_000


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_timestamp(value)
    return value


async def query_rows(
    credential: AsyncTokenCredential,
    *,
    endpoint: str,
    workspace_id: str,
    query: str,
    start: datetime,
    end: datetime,
) -> list[dict[str, Any]]:
    """Run ``query`` over [start, end] and return the primary table's rows as dicts.

    A partial result (the service hit a limit) is transient: retrying later gets the whole set,
    while acting on half of it could miss the deletion.
    """
    from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError
    from azure.monitor.query import LogsQueryStatus
    from azure.monitor.query.aio import LogsQueryClient

    async def once() -> list[dict[str, Any]]:
        async with LogsQueryClient(credential, endpoint=endpoint, **_SDK_RETRY) as client:
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
                        from shared.retry import parse_retry_after

                        headers = getattr(exc.response, "headers", None) or {}
                        retry_after = parse_retry_after(headers.get("Retry-After"))
                    raise TransientError(f"Log Analytics answered {status}", retry_after=retry_after) from exc
                raise UpstreamError(f"Log Analytics answered {status}", status=status) from exc
            except (ServiceRequestError, ServiceResponseError) as exc:
                raise TransientError(f"Log Analytics unreachable: {type(exc).__name__}") from exc
            except ValueError as exc:  # an unreadable body
                raise TransientError("Log Analytics sent an unreadable answer") from exc
        if response.status != LogsQueryStatus.SUCCESS:
            raise TransientError("Log Analytics returned a partial result")
        rows: list[dict[str, Any]] = []
        for table in response.tables[:1]:
            names = [str(c) for c in table.columns]
            for row in table.rows:
                rows.append({n: _cell(v) for n, v in zip(names, row, strict=False)})
                if len(rows) > MAX_ROWS:
                    raise UpstreamError("Log Analytics query returned too many rows; narrow ALERT_QUERY")
        return rows

    return await with_retry(once)
