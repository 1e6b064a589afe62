"""Issue 18's infra: the workbook reads events the app really writes, and App Service Authentication
guards only the status page (everything else stays reachable without a sign-in)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.test_infra import INFRA, ROOT, strip_comments
from tests.test_infra_profiles import Parser, evaluate

WORKBOOK = json.loads((INFRA / "app" / "workbook.json").read_text(encoding="utf-8"))
_EVENT_LITERAL = re.compile(r'"event":\s*"([a-z_]+)"')
_QUERY_EVENT = re.compile(r'customDimensions\["event"\]\)\s*(?:==\s*"([a-z_]+)"|in\s*\(([^)]*)\))')


def code_events() -> set[str]:
    """Every ``customDimensions.event`` value the app logs (literal ``extra={"event": …}``, the
    health tick's constant, and the per-outcome notice events)."""
    events: set[str] = set()
    for path in [*(ROOT / "shared").rglob("*.py"), *(ROOT / "functions").glob("*.py")]:
        text = path.read_text(encoding="utf-8")
        events.update(_EVENT_LITERAL.findall(text))
    from functions.health import TICK_EVENT

    events.add(TICK_EVENT)
    notices = (ROOT / "shared" / "incidents" / "notices.py").read_text(encoding="utf-8")
    assert '"event": f"notice_{outcome.status}"' in notices  # status is "sent" or "failed" (Delivery)
    events.update({"notice_sent", "notice_failed"})
    return events


def workbook_queries() -> dict[str, str]:
    return {item["content"]["title"]: item["content"]["query"] for item in WORKBOOK["items"] if item["type"] == 3}


def query_events(query: str) -> set[str]:
    found: set[str] = set()
    for single, many in _QUERY_EVENT.findall(query):
        found.update([single] if single else re.findall(r'"([a-z_]+)"', many))
    return found


def test_workbook_counts_only_events_the_app_writes() -> None:
    events = code_events()
    queries = workbook_queries()
    assert len(queries) >= 5
    for title, query in queries.items():
        used = query_events(query)
        assert used, f"{title}: counts no event"
        assert used <= events, f"{title}: {used - events} is never logged"


def test_workbook_covers_what_the_issue_asks() -> None:
    q = workbook_queries()
    assert "incident_opened" in q["Incidents opened per day"] and "bin(timestamp, 1d)" in q["Incidents opened per day"]
    ttr = q["Time to recover (p50, p90)"]
    assert "percentile(ttr_minutes, 50)" in ttr and "percentile(ttr_minutes, 90)" in ttr
    assert 'customDimensions["ttr_seconds"]' in ttr
    verification = (ROOT / "shared" / "app" / "verification.py").read_text(encoding="utf-8")
    assert '"ttr_seconds": _seconds(resolved.time_to_recover)' in verification, "the dimension the p50/p90 read"
    assert (
        "notice_failed" in q["Failed deliveries by channel"]
        and 'customDimensions["channel"]' in q["Failed deliveries by channel"]
    )
    assert 'customDimensions["outcome"]' in q["Health-check verdicts per hour"]
    assert 'customDimensions["verdicts"]' in q["Health-check verdicts by check"]
    assert WORKBOOK["version"] == "Notebook/1.0"


def test_query_event_reader_sees_a_typo() -> None:
    """Mutation: a misspelt event in a query is caught by the reader the test uses."""
    bad = 'traces\n| where tostring(customDimensions["event"]) == "incident_opend"'
    assert query_events(bad) == {"incident_opend"} and not query_events(bad) <= code_events()


def test_workbook_template_loads_the_queries_and_is_deployed() -> None:
    bicep = strip_comments((INFRA / "app" / "workbook.bicep").read_text(encoding="utf-8"))
    assert "serializedData: loadTextContent('workbook.json')" in bicep
    assert "sourceId: appInsightsId" in bicep and "kind: 'shared'" in bicep
    main = strip_comments((INFRA / "main.bicep").read_text(encoding="utf-8"))
    assert "module workbook 'app/workbook.bicep'" in main
    assert "appInsightsId: monitoring.outputs.appInsightsId" in main[main.index("module workbook") :]


def _auth_block() -> tuple[str, dict[str, object]]:
    bicep = strip_comments((INFRA / "app" / "status-auth.bicep").read_text(encoding="utf-8"))
    m = re.search(r"resource auth 'config' = ", bicep)
    assert m, "authsettingsV2 is declared under the function app"
    body = Parser(bicep, m.end()).expr()
    scope = {
        "clientId": "status-app",
        "environment": lambda: {"authentication": {"loginEndpoint": "https://login.microsoftonline.com/"}},
        "tenant": lambda: {"tenantId": "t-1"},
    }
    main = strip_comments((INFRA / "main.bicep").read_text(encoding="utf-8"))
    call = re.search(r"module statusAuth 'app/status-auth.bicep' = if \((.+)\) \{", main)
    assert call, "main.bicep deploys it conditionally"
    return call.group(1), evaluate(body, scope)


def test_app_service_authentication_guards_only_the_status_page() -> None:
    condition, auth = _auth_block()
    assert condition == "!empty(statusAuthClientId)"
    assert auth["name"] == "authsettingsV2"
    props = auth["properties"]
    assert isinstance(props, dict)
    assert props["platform"] == {"enabled": True}
    # Not required globally: Event Grid, the alert webhook and the action links carry their own proof.
    assert props["globalValidation"] == {
        "requireAuthentication": False,
        "unauthenticatedClientAction": "AllowAnonymous",
    }
    aad = props["identityProviders"]["azureActiveDirectory"]
    assert aad["enabled"] is True
    assert aad["registration"] == {"clientId": "status-app",
                                   "openIdIssuer": "https://login.microsoftonline.com/t-1/v2.0"}  # fmt: skip
    assert "status-app" in aad["validation"]["allowedAudiences"]


async def test_health_tick_carries_the_verdicts_the_workbook_reads(
    sim: Any, app_functions: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """The dimensions the workbook's queries read are on the app's own tick line, as JSON."""
    import logging

    from azure.functions.timer import TimerRequest

    caplog.set_level(logging.INFO)
    await sim.delete("integration")
    await app_functions["health_check"].get_user_function()(TimerRequest(past_due=False))
    (tick,) = [r for r in caplog.records if getattr(r, "event", None) == "health_tick"]
    assert tick.outcome == "unhealthy"  # type: ignore[attr-defined]
    verdicts = json.loads(tick.verdicts)  # type: ignore[attr-defined]
    assert verdicts["graph.service_principal.integration"] == "missing"
    assert verdicts["graph.service_principal.identity"] == "healthy"
