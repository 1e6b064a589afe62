"""Issue 14 (7): the Log Analytics query API as strict as the real one — names resolved against the
documented ``AuditLogs`` columns (400 ``BadArgumentError`` otherwise), ``project`` honoured, partial
results on demand — and the alert re-query reading every record through a partial result."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from simulator.audit import AUDITLOGS_COLUMNS
from simulator.kqlcheck import KqlError, check

COLUMNS = tuple(n for n, _ in AUDITLOGS_COLUMNS)


async def _query(services_env: dict[str, str], query: str) -> httpx.Response:
    from azure.identity.aio import ClientSecretCredential

    cred = ClientSecretCredential(
        services_env["AZURE_TENANT_ID"], services_env["AZURE_CLIENT_ID"], services_env["AZURE_CLIENT_SECRET"],
        authority=services_env["AZURE_AUTHORITY_HOST"],
    )  # fmt: skip
    async with cred:
        token = (await cred.get_token("https://api.loganalytics.io/.default")).token
    url = f"{services_env['LOG_ANALYTICS_ENDPOINT']}/v1/workspaces/{services_env['LOG_ANALYTICS_WORKSPACE_ID']}/query"
    async with httpx.AsyncClient(verify=services_env["SSL_CERT_FILE"]) as http:
        return await http.post(
            url, json={"query": query, "timespan": "PT1H"}, headers={"Authorization": f"Bearer {token}"}
        )


async def test_unknown_column_or_table_is_the_documented_400(sim: Any, services_env: dict[str, str]) -> None:
    for query, name in (
        ("AuditLogs | where AppDisplayName == 'x'", "AppDisplayName"),
        ("SigninLogs | take 1", "SigninLogs"),
    ):
        answer = await _query(services_env, query)
        assert answer.status_code == 400
        error = answer.json()["error"]
        assert error["code"] == "BadArgumentError" and error["message"] == "The request had some invalid properties"
        assert error["innererror"]["code"] == "SemanticError" and name in error["innererror"]["message"]


async def test_project_returns_only_the_projected_columns_in_order(sim: Any, services_env: dict[str, str]) -> None:
    from shared.detect.kql import default_alert_query

    await sim.delete("integration")
    answer = await _query(services_env, "AuditLogs | project ActivityDisplayName, Id, TimeGenerated")
    (table,) = answer.json()["tables"]
    assert [c["name"] for c in table["columns"]] == ["ActivityDisplayName", "Id", "TimeGenerated"]
    assert [c["type"] for c in table["columns"]] == ["string", "string", "datetime"]
    assert table["rows"] and all(len(r) == 3 for r in table["rows"])
    assert "Delete service principal" in {r[0] for r in table["rows"]}

    shipped = (await _query(services_env, default_alert_query("x"))).json()["tables"][0]
    assert [c["name"] for c in shipped["columns"]][:3] == ["TimeGenerated", "Id", "ActivityDateTime"]
    assert "error" not in answer.json()


async def test_partial_result_on_demand(sim: Any, services_env: dict[str, str]) -> None:
    for _ in range(3):
        await sim.activity("Update service principal", app="integration")
    await sim.log_analytics_limit(1)
    body = (await _query(services_env, "AuditLogs")).json()
    assert len(body["tables"][0]["rows"]) == 1
    assert body["error"]["code"] == "PartialError" and body["error"]["details"][0]["code"] == "EngineError"


@pytest.mark.parametrize(
    ("query", "columns"),
    [
        ("AuditLogs", COLUMNS),
        ("AuditLogs | project Id", ("Id",)),
        ('AuditLogs | where OperationName =~ "Remove Service Principal" // Tenant Override', COLUMNS),
        ("AuditLogs | extend AppId = tostring(AdditionalDetails[0].value) | project AppId, Id", ("AppId", "Id")),
        ("AuditLogs | where tostring(InitiatedBy.user.UserPrincipalName) has 'X'", COLUMNS),
        ("AuditLogs | project-away Id | project Result", ("Result",)),
    ],
)
def test_checker_resolves_what_the_service_resolves(query: str, columns: tuple[str, ...]) -> None:
    assert check(query, "AuditLogs", COLUMNS).columns == columns


@pytest.mark.parametrize(
    "query",
    [
        "",  # empty
        "AuditLogs | project",  # truncated
        "AuditLogs | where (Id == 'a'",  # unbalanced
        "auditlogs",  # table names are case-sensitive
        "AuditLogs | where Bogus == 1",
        "AuditLogs | project Id, 1+1",
        "AuditLogs | where Id == '" + "x" * 70_000 + "'",  # oversized
        "AuditLogs | where Id == 'a' | invoke Evil()",  # hostile: an unknown function
        "\u202eAuditLogs",  # hostile: bidi control before the table
    ],
)
def test_checker_refuses_what_the_service_refuses(query: str) -> None:
    with pytest.raises(KqlError):
        check(query, "AuditLogs", COLUMNS)


async def test_a_partial_result_narrows_the_window_reads_every_record_and_is_reported_once(
    sim: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Today's code took a partial result as transient: retried, it met the same limit every time
    and the intake message went to the poison queue. Now the window is halved until each part is
    whole; one operational notice, however often it recurs."""
    from shared.app.push import ingest
    from shared.app.runtime import get_services
    from shared.core.clock import clock
    from shared.core.models import AlertWindow, Extraction

    start = clock.now()
    for _ in range(4):  # four audit records two minutes apart
        await sim.activity("Update service principal", app="integration")
        await sim.advance_clock(120)
    clock.advance(4 * 120)
    await sim.log_analytics_limit(1)  # any answer longer than one row is partial
    svc = await get_services()

    for n in (1, 2):  # two alerts meet the same limit
        window = AlertWindow(f"alert-{n}", "webex-apps", "Fired", start, clock.now())
        result = await ingest(svc.push_deps(), Extraction(records=[], alerts=[window]))
        assert result.alerts == [f"alert-{n} (Fired): 4 rows re-queried"], result.alerts
    queries = (await sim.state())["log_analytics_queries"]
    assert len(queries) > 2, "the window was split"
    subjects = [m["message"]["subject"].strip() for m in (await sim.state())["sent_mails"]]
    assert subjects.count("[Webex sync remediator] Log Analytics returned a partial result for the alert re-query") == 1
    assert sum(getattr(r, "event", None) == "la_partial_result" for r in caplog.records) == 2, "logged every time"


async def test_a_partial_that_narrowing_cannot_cure_keeps_what_came_back(sim: Any) -> None:
    from shared.app.runtime import get_services
    from shared.clients.loganalytics import MAX_SPLIT_DEPTH, query_window
    from shared.core.clock import clock

    for _ in range(3):  # several records in the same instant: no split separates them
        await sim.activity("Update service principal", app="integration")
    await sim.log_analytics_limit(1)
    svc = await get_services()
    s = svc.settings
    got = await query_window(
        svc.credential(), endpoint=s.log_analytics_endpoint, workspace_id=s.log_analytics_workspace_id,
        query="AuditLogs", start=clock.now() - timedelta(minutes=5), end=clock.now() + timedelta(seconds=1),
    )  # fmt: skip
    assert not got.complete and got.partial and "PartialError" in got.partial
    assert got.rows, "the partial rows are kept rather than nothing"
    assert got.queries <= 2 ** (MAX_SPLIT_DEPTH + 1) - 1, "bounded depth"


async def test_a_query_the_workspace_refuses_names_the_unresolved_column(
    sim: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tenant's ``ALERT_QUERY`` with a column ``AuditLogs`` does not have: the 400 is permanent and
    its error says which name (what the poison notice and the logs then show)."""
    from shared.app.push import rows_for_alert
    from shared.app.runtime import get_services, reset_services
    from shared.core.clock import clock
    from shared.core.errors import UpstreamError
    from shared.core.models import AlertWindow
    from shared.core.settings import reset_settings

    monkeypatch.setenv("ALERT_QUERY", "AuditLogs | where AppDisplayName has 'Webex'")
    reset_settings()
    await reset_services()
    window = AlertWindow("alert-bad", "webex-apps", "Fired", clock.now() - timedelta(minutes=5), clock.now())
    with pytest.raises(UpstreamError) as caught:
        await rows_for_alert((await get_services()).push_deps(), window)
    assert caught.value.status == 400
    assert "Failed to resolve scalar expression named 'AppDisplayName'" in str(caught.value)
    assert "ALERT_QUERY" in str(caught.value)
    assert len(await sim.requests(path="/loganalytics/", method="POST")) == 1, "a 400 is not retried"


class _Err:
    def __init__(self, **kw: Any) -> None:
        self.__dict__.update(kw)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (None, "partial result"),  # malformed: no error object at all
        (
            _Err(code="PartialError", message="m", details=[{"code": "E", "message": "too large"}]),
            "PartialError; m; too large",
        ),
        (_Err(code="PartialError", message=None, details="not a list"), "PartialError"),  # malformed details
        (_Err(code="PartialError", details=[{"message": 5}, None, "x"]), "PartialError"),  # hostile members
        (_Err(code="P", message="y" * 10_000), "P; " + "y" * 300),  # oversized: clipped
    ],
)
def test_partial_text_reads_any_error_shape(error: Any, expected: str) -> None:
    from shared.clients.loganalytics import partial_text

    assert partial_text(error) == expected


def test_reason_reads_nested_inner_errors_with_bounds() -> None:
    from shared.clients.loganalytics import _reason

    deep: dict[str, Any] = {"code": "c0", "message": "m0"}
    cursor = deep
    for n in range(1, 50):  # hostile: nested far deeper than any real answer
        cursor["innererror"] = {"code": f"c{n}", "message": f"m{n}"}
        cursor = cursor["innererror"]
    text = _reason(_Err(error=_Err(code="BadArgumentError", innererror=deep)))
    assert text.startswith(" (BadArgumentError: c0: m0") and "c5" not in text and len(text) < 450
    assert _reason(_Err(error=None)) == ""  # malformed: no parsed error
    assert _reason(_Err(error=_Err(code=None, innererror="text"))) == ""  # truncated / wrong types
    assert len(_reason(_Err(error=_Err(code="x" * 5000, innererror=None)))) < 450  # oversized
