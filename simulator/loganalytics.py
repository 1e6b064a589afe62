"""The Log Analytics query API (``POST {endpoint}/v1/workspaces/{id}/query``) under ``/loganalytics``.

The simulator does not run KQL. It checks the query as the service does (every table and column name
resolved against the documented ``AuditLogs`` columns, else 400 ``BadArgumentError``; ``project``
shapes the result; partial results on demand: :mod:`simulator.kqlcheck`) and answers with the
``AuditLogs`` rows of the tenant's audit records whose ``TimeGenerated`` (activity time + the ingestion
delay) lies inside the timespan and is already in the past — the property that matters to the
project: a record is not queryable until it has been ingested, minutes after the change. The query
text is recorded so tests can check what the app asked for.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from aiohttp import web

from simulator.audit import AUDITLOGS_COLUMNS, auditlogs_row
from simulator.errors import json_response, la_error_body
from simulator.keys import STATE
from simulator.kqlcheck import KqlError, check, error_body, partial_error
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
    try:
        checked = check(text, "AuditLogs", tuple(n for n, _ in AUDITLOGS_COLUMNS))
    except KqlError as exc:
        return json_response(error_body(exc), 400)
    answer: dict[str, Any] = {"tables": [_table(rows_for(state, start, end), checked.columns)]}
    limit = state.la_limits.max_rows
    if limit is not None and len(answer["tables"][0]["rows"]) > limit:
        answer["tables"][0]["rows"] = answer["tables"][0]["rows"][:limit]
        answer["error"] = partial_error(limit)
    return json_response(answer)


_TYPES = dict(AUDITLOGS_COLUMNS)
_INDEX = {name: i for i, (name, _) in enumerate(AUDITLOGS_COLUMNS)}


def _table(rows: list[list[Any]], columns: tuple[str, ...]) -> dict[str, Any]:
    """The primary table with ``columns`` only, in that order (a ``project``); a column the query
    computed (``project X = expr``) is typed ``string`` and left empty — the simulator does not run KQL."""
    picks = [_INDEX.get(c) for c in columns]
    return {
        "name": "PrimaryResult",
        "columns": [{"name": c, "type": _TYPES.get(c, "string")} for c in columns],
        "rows": [[row[i] if i is not None else None for i in picks] for row in rows],
    }


def register(app: web.Application) -> None:
    app.router.add_route("POST", "/loganalytics/v1/workspaces/{workspace}/query", query)
    app.router.add_route("GET", "/loganalytics/v1/workspaces/{workspace}/query", query)
