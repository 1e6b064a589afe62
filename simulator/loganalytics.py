"""The Log Analytics query API (``POST {endpoint}/v1/workspaces/{id}/query``) under ``/loganalytics``.

The simulator does not run KQL. It answers any query that names ``AuditLogs`` with the ``AuditLogs``
rows of the tenant's audit records whose ``TimeGenerated`` (activity time + the ingestion delay) lies
inside the timespan and is already in the past — the property that matters to the project: a record
is not queryable until it has been ingested, minutes after the change. The query text is recorded so
tests can check what the app asked for.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from aiohttp import web

from simulator.audit import AUDITLOGS_COLUMNS, auditlogs_row
from simulator.errors import json_response, la_error_body
from simulator.keys import STATE
from simulator.middleware import bearer
from simulator.state import SimState
from simulator.timefmt import graph_time, parse_duration, parse_time


class TimespanError(ValueError):
    pass


def parse_timespan(value: str | None, now: datetime) -> tuple[datetime | None, datetime | None]:
    """``start/end``, ``start/duration``, ``duration/end`` or a bare ``duration`` ending now."""
    if value is None or not value.strip():
        return None, None
    text = value.strip()
    if "/" in text:
        first, _, second = text.partition("/")
        start, end = parse_time(first), parse_time(second)
        if start is not None and end is not None:
            return start, end
        if start is not None and (dur := parse_duration(second)) is not None:
            return start, start + dur
        if end is not None and (dur := parse_duration(first)) is not None:
            return end - dur, end
        raise TimespanError(f"Invalid timespan '{value}'")
    dur = parse_duration(text)
    if dur is None:
        raise TimespanError(f"Invalid timespan '{value}'")
    return now - dur, now


def _error(status: int, message: str, code: str | None = None) -> web.Response:
    return json_response(la_error_body(status, message, code), status)


def _auth_problem(request: web.Request, state: SimState) -> str | None:
    token = bearer(request)
    info = state.tokens.get(token) if token else None
    if info is None:
        return "Valid authentication was not provided"
    if "loganalytics" not in info.scope.lower():
        return "The provided authentication is not valid for this resource (wrong audience)"
    return None


def rows_for(state: SimState, start: datetime | None, end: datetime | None) -> list[list[Any]]:
    now = state.clock.now()
    out = []
    for entry in state.audits:
        tg = entry.time_generated
        if tg > now:
            continue  # not ingested yet
        if start is not None and tg < start:
            continue
        if end is not None and tg > end:
            continue
        out.append(auditlogs_row(entry, state.config.tenant_id, state.config.workspace_id))
    return out


async def query(request: web.Request) -> web.Response:
    state = request.app[STATE]
    problem = _auth_problem(request, state)
    if problem is not None:
        return _error(401, problem)
    workspace = request.match_info["workspace"]
    if workspace.lower() != state.config.workspace_id.lower():
        return _error(
            404, f"The requested path does not exist: workspace '{workspace}' was not found", "PathNotFoundError"
        )
    if request.method == "POST":
        try:
            body = json.loads(await request.text() or "null")
        except ValueError:
            return _error(400, "The request body is not valid JSON")
        if not isinstance(body, dict):
            return _error(400, "The request body must be a JSON object")
    else:
        body = dict(request.query)
    text = body.get("query")
    if not isinstance(text, str) or not text.strip():
        return _error(400, "The request had some invalid properties: query is required")
    timespan = body.get("timespan")
    try:
        start, end = parse_timespan(timespan if isinstance(timespan, str) else None, state.clock.now())
    except TimespanError as exc:
        return _error(400, str(exc))
    state.la_queries.append(
        {"workspace": workspace, "query": text, "timespan": timespan, "time": graph_time(state.clock.now())}
    )
    rows = rows_for(state, start, end) if "auditlogs" in text.lower() else []
    table = {
        "name": "PrimaryResult",
        "columns": [{"name": n, "type": t} for n, t in AUDITLOGS_COLUMNS],
        "rows": rows,
    }
    return json_response({"tables": [table]})


def register(app: web.Application) -> None:
    app.router.add_route("POST", "/loganalytics/v1/workspaces/{workspace}/query", query)
    app.router.add_route("GET", "/loganalytics/v1/workspaces/{workspace}/query", query)
