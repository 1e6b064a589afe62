"""Azure Monitor common-alert-schema payloads → :class:`~shared.core.models.AlertWindow` (+ any rows).

A log search alert tells us *that* matching audit rows exist in a time window, not which: Log Alerts
V2 never embeds rows, so the window is what the alert path re-queries. The legacy Log Analytics
context may embed ``SearchResults.tables``; those rows are normalized like any AuditLogs rows, and
the window is still reported when the embedded rows are not the whole result (``ResultCount`` more
than the rows included) or are not AuditLogs rows at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.core.clock import parse_timestamp
from shared.core.errors import PayloadError
from shared.core.models import AlertWindow, Extraction
from shared.detect.normalize._util import Context, as_dict, get, lower_keys, text
from shared.detect.normalize.rows import tables_into

COMMON_ALERT_SCHEMA = "azuremonitorcommonalertschema"
_WORKSPACE_IN_LINK = re.compile(
    r"/workspaces/([0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})/"
)


def is_common_alert(obj: dict[str, Any]) -> bool:
    """``obj`` (lower-keyed) is a common-alert-schema payload."""
    schema = obj.get("schemaid")
    if isinstance(schema, str) and schema.lower() == COMMON_ALERT_SCHEMA:
        return True
    data = obj.get("data")
    return isinstance(data, dict) and isinstance(get(data, "essentials"), dict)


def _workspace_from_links(condition: dict[str, Any]) -> str | None:
    all_of = get(condition, "allOf")
    if not isinstance(all_of, list):
        return None
    for item in all_of[:20]:
        if isinstance(item, dict):
            for key in ("linkToSearchResultsAPI", "linkToFilteredSearchResultsAPI"):
                link = get(item, key)
                if isinstance(link, str):
                    m = _WORKSPACE_IN_LINK.search(link[:4096])
                    if m:
                        return m.group(1).lower()
    return None


def alert_into(obj: dict[str, Any], out: Extraction, ctx: Context, where: str) -> None:
    """Add the window (and any embedded rows) of the lower-keyed alert ``obj`` to ``out``.

    Raises :class:`PayloadError` when the alert has no ``essentials.alertId`` or unreadable window
    times: retrying will not change that. A well-formed alert that is not a log search alert (a
    metric or activity-log alert routed here by mistake) is noted in ``out.skipped``: it is readable,
    it just carries nothing about audit records.
    """
    data, essentials, alert_id = _essentials(obj)
    ctx_keys = lower_keys(as_dict(get(data, "alertContext")) or {})
    window = _window(ctx_keys, out, ctx, where)
    if window is None:
        signal = text(get(essentials, "signalType")) or "unknown"
        if signal.lower() == "log":
            raise PayloadError("log alert has no search window")
        out.skipped.append(
            f"{where}: alert {alert_id} is not a log search alert (signal {signal}): nothing to re-query"
        )
        return
    if window.start is None or window.end is None:
        raise PayloadError("alert search window times are unreadable")
    if window.complete:
        return  # every matching row is here: nothing to re-query
    out.alerts.append(
        AlertWindow(
            alert_id=alert_id,
            rule=text(get(essentials, "alertRule")),
            condition=text(get(essentials, "monitorCondition")) or "Fired",
            start=window.start,
            end=window.end,
            workspace_id=window.workspace,
            fired_time=parse_timestamp(get(essentials, "firedDateTime")),
        )
    )


def _essentials(obj: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], str]:
    """The alert's ``data``, its ``essentials`` and its id; :class:`PayloadError` without them."""
    data = as_dict(obj.get("data"))
    essentials = as_dict(get(data, "essentials")) if data else None
    if not data or not essentials:
        raise PayloadError("alert has no data.essentials")
    alert_id = text(get(essentials, "alertId")) or text(get(essentials, "originAlertId"))
    if not alert_id:
        raise PayloadError("alert has no essentials.alertId")
    return data, essentials, alert_id


@dataclass(frozen=True, slots=True)
class _Window:
    """A log search alert's window as read (times ``None`` when unreadable); ``complete``: the
    alert embedded every matching row, so there is nothing to re-query."""

    start: datetime | None
    end: datetime | None
    workspace: str | None
    complete: bool = False


def _window(ctx_keys: dict[str, Any], out: Extraction, ctx: Context, where: str) -> _Window | None:
    """The search window of a Log Alerts V2 context or of the legacy Log Analytics one (whose
    embedded rows go into ``out``); ``None`` when the context is neither."""
    condition = as_dict(ctx_keys.get("condition"))
    if condition is not None and (get(condition, "windowStartTime") or get(condition, "windowEndTime")):
        start = parse_timestamp(get(condition, "windowStartTime"))
        end = parse_timestamp(get(condition, "windowEndTime"))
        return _Window(start, end, _workspace_from_links(condition))
    if "searchintervalstarttimeutc" in ctx_keys or "searchintervalendtimeutc" in ctx_keys:
        return _legacy_window(ctx_keys, out, ctx, where)
    return None


def _legacy_window(ctx_keys: dict[str, Any], out: Extraction, ctx: Context, where: str) -> _Window:
    start = parse_timestamp(ctx_keys.get("searchintervalstarttimeutc"))
    end = parse_timestamp(ctx_keys.get("searchintervalendtimeutc"))
    workspace = text(ctx_keys.get("workspaceid"))
    results = as_dict(ctx_keys.get("searchresults"))
    if results is None:
        return _Window(start, end, workspace)
    before = len(out.records)
    tables_into(lower_keys(results), out, ctx, f"{where}SearchResults")
    embedded = len(out.records) - before
    count = ctx_keys.get("resultcount")
    complete = embedded > 0 and (not isinstance(count, int) or embedded >= count)
    return _Window(start, end, workspace, complete)
