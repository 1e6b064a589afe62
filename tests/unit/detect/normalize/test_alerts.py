"""Common-alert-schema payloads through ``extract``: the window to re-query, embedded rows, and
the alerts that carry nothing to re-query — each answer written out (shared/detect/normalize/alerts.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from shared.core.errors import PayloadError
from shared.core.models import AlertWindow
from shared.detect.normalize import extract

WS = "0B1C2D3E-4F5A-4B6C-8D7E-9F0A1B2C3D4E"
START, END = datetime(2024, 5, 1, 10, 15, tzinfo=UTC), datetime(2024, 5, 1, 10, 20, tzinfo=UTC)
FIRED = datetime(2024, 5, 1, 10, 20, 4, 123450, tzinfo=UTC)


def v2(essentials: dict[str, Any] | None = None, **condition: Any) -> dict[str, Any]:
    cond: dict[str, Any] = {
        "windowStartTime": "2024-05-01T10:15:00Z",
        "windowEndTime": "2024-05-01T10:20:00.0000000+00:00",
        "allOf": [{"linkToSearchResultsAPI": f"https://api.loganalytics.io/v1/workspaces/{WS}/query?x=1"}],
    }
    cond.update(condition)
    ess = {"alertId": "a1", "alertRule": "webex-sp-deleted", "signalType": "Log"}
    ess["firedDateTime"] = "2024-05-01T10:20:04.12345Z"
    ess.update(essentials or {})
    return {
        "schemaId": "azureMonitorCommonAlertSchema",
        "data": {"essentials": ess, "alertContext": {"condition": cond}},
    }


def legacy(result_count: Any) -> dict[str, Any]:
    table = {
        "name": "PrimaryResult",
        "columns": [{"name": "Id"}, {"name": "ActivityDisplayName"}],
        "rows": [["r1", "Delete service principal"]],
    }
    context = {
        "SearchIntervalStartTimeUtc": "2024-05-01T10:15:00Z",
        "SearchIntervalEndtimeUtc": "2024-05-01T10:20:00Z",
        "WorkspaceId": "ws-1",
        "ResultCount": result_count,
        "SearchResults": {"tables": [table]},
    }
    essentials = {"originAlertId": "o1", "monitorCondition": "Resolved"}
    return {"schemaId": "azureMonitorCommonAlertSchema", "data": {"essentials": essentials, "alertContext": context}}


def test_a_log_alert_v2_is_one_window_with_the_workspace_from_its_link() -> None:
    out = extract(v2())
    assert out.alerts == [AlertWindow("a1", "webex-sp-deleted", "Fired", START, END, WS.lower(), FIRED)]
    assert (out.records, out.skipped) == ([], [])


def test_the_filtered_link_names_the_workspace_too() -> None:
    link = {"linkToFilteredSearchResultsAPI": f"https://api.loganalytics.io/v1/workspaces/{WS}/query"}
    assert extract(v2(allOf=[{"other": 1}, link])).alerts[0].workspace_id == WS.lower()
    assert extract(v2(allOf=[{"linkToSearchResultsAPI": "https://x/workspaces/nope/"}])).alerts[0].workspace_id is None
    assert extract(v2(allOf="nope")).alerts[0].workspace_id is None


def test_only_the_first_20_conditions_are_read() -> None:
    link = {"linkToSearchResultsAPI": f"https://api.loganalytics.io/v1/workspaces/{WS}/query"}
    assert extract(v2(allOf=[{}] * 19 + [link])).alerts[0].workspace_id == WS.lower()
    assert extract(v2(allOf=[{}] * 20 + [link])).alerts[0].workspace_id is None


def test_one_window_time_is_enough_to_be_a_window_but_both_must_read() -> None:
    with pytest.raises(PayloadError, match="alert search window times are unreadable"):
        extract(v2(windowStartTime="nope"))
    with pytest.raises(PayloadError, match="alert search window times are unreadable"):
        extract(v2(windowEndTime=None))


def test_a_missing_condition_is_fired() -> None:
    out = extract(v2({"monitorCondition": None, "alertRule": None, "firedDateTime": None}))
    assert out.alerts == [AlertWindow("a1", None, "Fired", START, END, WS.lower(), None)]


@pytest.mark.parametrize("count", [1, 0, "5", None])
def test_legacy_rows_that_are_the_whole_result_need_no_window(count: Any) -> None:
    """A ResultCount that is not a number says nothing more: the embedded rows are taken as all."""
    out = extract(legacy(count))
    assert ([r.record_id for r in out.records], out.alerts, out.skipped) == (["r1"], [], [])


@pytest.mark.parametrize("count", [2, 100])
def test_legacy_rows_fewer_than_the_result_count_also_give_the_window(count: Any) -> None:
    out = extract(legacy(count))
    assert [r.record_id for r in out.records] == ["r1"]
    assert out.alerts == [AlertWindow("o1", None, "Resolved", START, END, "ws-1", None)]


def test_legacy_without_audit_rows_gives_the_window() -> None:
    payload = legacy(0)
    payload["data"]["alertContext"]["SearchResults"] = {"tables": []}
    out = extract(payload)
    assert out.records == []
    assert out.alerts == [AlertWindow("o1", None, "Resolved", START, END, "ws-1", None)]


@pytest.mark.parametrize(
    ("essentials", "note"),
    [
        (
            {"alertId": "m1", "signalType": "Metric"},
            ": alert m1 is not a log search alert (signal Metric): nothing to re-query",
        ),
        ({"alertId": "m1"}, ": alert m1 is not a log search alert (signal unknown): nothing to re-query"),
    ],
)
def test_an_alert_that_is_not_a_log_search_alert_is_noted(essentials: dict[str, Any], note: str) -> None:
    out = extract({"schemaId": "azureMonitorCommonAlertSchema", "data": {"essentials": essentials, "alertContext": {}}})
    assert (out.alerts, out.records, out.skipped) == ([], [], [note])


def test_without_a_schema_id_the_essentials_make_it_an_alert() -> None:
    out = extract({"data": {"essentials": {"alertId": "e1", "signalType": "Metric"}}})
    assert out.skipped == [": alert e1 is not a log search alert (signal Metric): nothing to re-query"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"essentials": {"alertId": "m1", "signalType": "log"}}, "log alert has no search window"),
        ({"essentials": {"signalType": "Log"}}, "alert has no essentials.alertId"),
        ({"essentials": {}}, "alert has no data.essentials"),
        ({}, "alert has no data.essentials"),
    ],
)
def test_alerts_that_cannot_be_read_are_refused(data: dict[str, Any], message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        extract({"schemaId": "azureMonitorCommonAlertSchema", "data": data})


def test_a_workspace_link_is_read_in_its_first_4096_characters() -> None:
    tail = f"/workspaces/{WS}/"
    fits = "https://api.loganalytics.io/" + "v" * (4096 - 28 - len(tail)) + tail
    assert len(fits) == 4096
    assert extract(v2(allOf=[{"linkToSearchResultsAPI": fits}])).alerts[0].workspace_id == WS.lower()
    over = "https://api.loganalytics.io/" + "v" * (4097 - 28 - len(tail)) + tail
    assert extract(v2(allOf=[{"linkToSearchResultsAPI": over}])).alerts[0].workspace_id is None


@pytest.mark.parametrize("kept", ["SearchIntervalStartTimeUtc", "SearchIntervalEndtimeUtc"])
def test_a_legacy_window_with_one_time_is_unreadable_not_ignored(kept: str) -> None:
    payload = legacy(1)
    context = payload["data"]["alertContext"]
    payload["data"]["alertContext"] = {kept: context[kept], "WorkspaceId": "ws-1"}
    with pytest.raises(PayloadError, match="alert search window times are unreadable"):
        extract(payload)
