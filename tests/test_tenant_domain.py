"""Issue 15, point 3: ``TENANT_ID`` given as a domain (the README allows it) is resolved to the
tenant GUID at start-up through the tenant's OpenID configuration (the simulator serves it), so
Log Analytics rows — which carry the GUID — are accepted; a domain that does not resolve is a clear
configuration error, and ``check`` exits 2."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.helpers import eventgrid_event, incidents, run_intake

DISCOVERY = r"/v2\.0/\.well-known/openid-configuration$"


async def _with_tenant(monkeypatch: pytest.MonkeyPatch, services_env: dict[str, str], tenant: str) -> None:
    from shared.app.runtime import reset_services
    from shared.clients.tenant_id import forget_resolved
    from shared.core.settings import reset_settings

    monkeypatch.setenv("TENANT_ID", tenant)
    monkeypatch.setenv("ENTRA_LOGIN_BASE", services_env["SIMULATOR_URL"])  # the simulator's login host
    forget_resolved()
    reset_settings()
    await reset_services()


def _la_tables(record: dict[str, Any], tenant_guid: str) -> dict[str, Any]:
    """The deletion record as the Log Analytics query API returns an AuditLogs row."""
    row = {
        "TenantId": "00000000-0000-4000-8000-000000000001",  # the workspace, not the tenant
        "AADTenantId": tenant_guid,
        "ResourceId": f"/tenants/{tenant_guid}/providers/Microsoft.aadiam",
        "TimeGenerated": record["activityDateTime"],
        "Id": record["id"],
        "Category": record["category"],
        "CorrelationId": record["correlationId"],
        "Result": record["result"],
        "ActivityDisplayName": record["activityDisplayName"],
        "ActivityDateTime": record["activityDateTime"],
        "LoggedByService": record["loggedByService"],
        "OperationName": record["activityDisplayName"],
        "InitiatedBy": json.dumps(record["initiatedBy"]),
        "TargetResources": json.dumps(record["targetResources"]),
        "AdditionalDetails": json.dumps(record.get("additionalDetails") or []),
    }
    names = list(row)
    return {
        "tables": [
            {
                "name": "PrimaryResult",
                "columns": [{"name": n, "type": "string"} for n in names],
                "rows": [[row[n] for n in names]],
            }
        ]
    }


async def test_domain_is_resolved_and_log_analytics_rows_with_the_guid_are_accepted(
    sim: Any, monkeypatch: pytest.MonkeyPatch, services_env: dict[str, str], app_functions: dict[str, Any]
) -> None:
    from shared.app.runtime import get_services

    state = await sim.state()
    guid, domain = state["config"]["tenant_id"].lower(), state["config"]["tenant_domain"]
    await _with_tenant(monkeypatch, services_env, domain.upper())
    svc = await get_services()
    assert svc.settings.tenant_id == guid and svc.tenant_domain == domain.lower()
    assert svc.tenant_guid == guid

    records = await sim.delete("integration", actor="mallory@contoso.example")
    handler = app_functions["eventgrid_audit"].get_user_function()
    await handler(eventgrid_event(_la_tables(records[0], guid)))
    await run_intake(app_functions)
    (inc,) = await incidents()
    assert inc.kind == "integration_deleted" and inc.tenant_id == guid

    from shared.app.runtime import reset_services
    from shared.core.settings import reset_settings

    reset_settings()
    await reset_services()
    await get_services()
    lookups = await sim.requests(path=DISCOVERY, method="GET")
    assert len(lookups) == 1, "resolved once per process (cached), not per invocation"
    assert lookups[0]["path"].lower().startswith(f"/{domain.lower()}/")


async def test_unknown_domain_is_a_clear_configuration_error(
    sim: Any, monkeypatch: pytest.MonkeyPatch, services_env: dict[str, str]
) -> None:
    from shared.app.runtime import get_services
    from shared.core.errors import ConfigError

    await _with_tenant(monkeypatch, services_env, "fabrikam.onmicrosoft.com")
    with pytest.raises(ConfigError) as exc:
        await get_services()
    text = str(exc.value)
    assert "TENANT_ID" in text and "fabrikam.onmicrosoft.com" in text and "GUID" in text
    assert "HTTP 400" in text


async def test_check_exits_2_when_the_domain_does_not_resolve(
    sim: Any, monkeypatch: pytest.MonkeyPatch, services_env: dict[str, str]
) -> None:
    from tests.test_cli_check import _cli, _in_thread

    await _with_tenant(monkeypatch, services_env, "fabrikam.onmicrosoft.com")
    code, out, err = await _in_thread(_cli)
    assert code == 2 and out == ""
    assert "TENANT_ID" in err and "fabrikam.onmicrosoft.com" in err
    assert await sim.requests(path="/servicePrincipals", method="GET") == [], "no check runs on a guessed tenant"


@pytest.mark.parametrize(
    "body",
    [
        {"issuer": "https://login.microsoftonline.com/not-a-guid/v2.0"},
        {"issuer": 42},
        {"token_endpoint": "x"},
        ["issuer"],
        "x" * 100_000,
    ],
)
async def test_an_answer_without_a_tenant_guid_is_refused(body: Any) -> None:
    """Malformed, truncated, oversized or hostile discovery answers: never a guessed tenant."""
    import httpx

    from shared.clients.tenant_id import forget_resolved, resolve_tenant
    from shared.core.errors import ConfigError
    from shared.core.settings import load_settings

    forget_resolved()
    raw = json.dumps(body).encode()
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=raw))
    settings = load_settings({"TENANT_ID": "contoso.example", "WEBEX_ORG_ID": "org"})
    async with httpx.AsyncClient(transport=transport) as http:
        with pytest.raises(ConfigError, match="TENANT_ID"):
            await resolve_tenant(settings, http)


async def test_guid_tenant_is_never_looked_up(sim: Any) -> None:
    from shared.app.runtime import get_services

    svc = await get_services()
    assert svc.tenant_domain is None
    assert await sim.requests(path=DISCOVERY, method="GET") == []
