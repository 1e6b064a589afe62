"""The simulator speaks what the real clients expect.

Each test drives an unmodified client library (azure-identity aio, msgraph-sdk, azure-monitor-query
aio, httpx) against the in-process simulator, so a shape the SDKs cannot deserialize fails here
rather than in the app's tests. One simulator serves the module; each test starts from a reset.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from simulator.client import SimulatorControl, SimulatorControlError
from simulator.server import Simulator, SimulatorThread

INTEGRATION_APP_ID = "90db942a-c1eb-4e8d-82e4-eebf64a7e2ae"


@pytest.fixture(scope="module")
async def server() -> AsyncIterator[Simulator]:
    sim = Simulator()
    await sim.start()
    yield sim
    await sim.stop()


@pytest.fixture
async def ctl(server: Simulator, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[SimulatorControl]:
    monkeypatch.setenv("SSL_CERT_FILE", server.ca_pem_path)
    control = SimulatorControl(server.base_url, verify=server.ca_pem_path)
    await control.reset()
    yield control
    await control.aclose()


@pytest.fixture
def env(server: Simulator, ctl: SimulatorControl) -> dict[str, str]:
    return server.env()


async def _graph_token(env: dict[str, str]) -> str:
    from azure.identity.aio import ClientSecretCredential

    async with ClientSecretCredential(
        env["AZURE_TENANT_ID"],
        env["AZURE_CLIENT_ID"],
        env["AZURE_CLIENT_SECRET"],
        authority=env["AZURE_AUTHORITY_HOST"],
        connection_verify=env["SSL_CERT_FILE"],  # aiohttp's default context predates SSL_CERT_FILE
    ) as cred:
        return (await cred.get_token(env["SIMULATOR_URL"] + "/.default")).token


def _graph(env: dict[str, str], token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=env["GRAPH_BASE_URL"], headers={"Authorization": f"Bearer {token}"})


# ---------------------------------------------------------------------- identity
async def test_azure_identity_gets_token_and_secret_is_not_recorded(env: dict[str, str], ctl: SimulatorControl) -> None:
    token = await _graph_token(env)
    assert token.startswith("simaad.")
    [req] = await ctl.requests(path=r"/oauth2/v2\.0/token$", method="POST")
    assert req["form"]["grant_type"] == "client_credentials"
    assert req["form"]["scope"] == env["SIMULATOR_URL"] + "/.default"
    assert req["form"]["client_secret"] == "<redacted>"
    assert env["AZURE_CLIENT_SECRET"] not in json.dumps(req)


async def test_wrong_secret_is_an_aadsts_error(env: dict[str, str]) -> None:
    from azure.core.exceptions import ClientAuthenticationError
    from azure.identity.aio import ClientSecretCredential

    async with ClientSecretCredential(
        env["AZURE_TENANT_ID"],
        env["AZURE_CLIENT_ID"],
        "wrong",
        authority=env["AZURE_AUTHORITY_HOST"],
        connection_verify=env["SSL_CERT_FILE"],
    ) as cred:
        with pytest.raises(ClientAuthenticationError, match="AADSTS7000215"):
            await cred.get_token(env["SIMULATOR_URL"] + "/.default")


# ---------------------------------------------------------------------- msgraph-sdk
async def test_msgraph_sdk_lists_mails_lists_deleted_and_restores(env: dict[str, str], ctl: SimulatorControl) -> None:
    from azure.identity.aio import ClientSecretCredential
    from kiota_abstractions.base_request_configuration import RequestConfiguration
    from kiota_authentication_azure.azure_identity_authentication_provider import (
        AzureIdentityAuthenticationProvider,
    )
    from msgraph import GraphRequestAdapter, GraphServiceClient
    from msgraph.generated.models.body_type import BodyType
    from msgraph.generated.models.email_address import EmailAddress
    from msgraph.generated.models.item_body import ItemBody
    from msgraph.generated.models.message import Message
    from msgraph.generated.models.recipient import Recipient
    from msgraph.generated.models.service_principal import ServicePrincipal
    from msgraph.generated.service_principals.service_principals_request_builder import (
        ServicePrincipalsRequestBuilder,
    )
    from msgraph.generated.users.item.send_mail.send_mail_post_request_body import SendMailPostRequestBody

    cred = ClientSecretCredential(
        env["AZURE_TENANT_ID"],
        env["AZURE_CLIENT_ID"],
        env["AZURE_CLIENT_SECRET"],
        authority=env["AZURE_AUTHORITY_HOST"],
        connection_verify=env["SSL_CERT_FILE"],
    )
    auth = AzureIdentityAuthenticationProvider(
        cred, scopes=[env["SIMULATOR_URL"] + "/.default"], allowed_hosts=["127.0.0.1"]
    )
    http = httpx.AsyncClient()  # trusts the CA through SSL_CERT_FILE
    adapter = GraphRequestAdapter(auth, client=http)
    adapter.base_url = env["GRAPH_BASE_URL"]
    client = GraphServiceClient(request_adapter=adapter)
    try:
        query = ServicePrincipalsRequestBuilder.ServicePrincipalsRequestBuilderGetQueryParameters(
            filter=f"appId eq '{INTEGRATION_APP_ID.upper()}'", select=["id", "appId", "displayName", "accountEnabled"]
        )
        page = await client.service_principals.get(RequestConfiguration(query_parameters=query))
        assert page is not None and page.value is not None
        [sp] = page.value
        assert sp.app_id == INTEGRATION_APP_ID and sp.display_name == "Cisco Webex Identity Integration"
        assert sp.account_enabled is True
        original_id = sp.id
        assert original_id is not None

        # Paging: $top=1 over three service principals gives a nextLink the SDK can follow.
        first = await client.service_principals.get(
            RequestConfiguration(
                query_parameters=ServicePrincipalsRequestBuilder.ServicePrincipalsRequestBuilderGetQueryParameters(
                    top=2
                )
            )
        )
        assert first is not None and first.value is not None and len(first.value) == 2
        assert first.odata_next_link is not None and "$skiptoken=" in first.odata_next_link
        second = await client.service_principals.with_url(first.odata_next_link).get()
        assert second is not None and second.value is not None and len(second.value) == 1
        assert second.odata_next_link is None

        mail = SendMailPostRequestBody(
            message=Message(
                subject="Webex sync is broken",
                body=ItemBody(content_type=BodyType.Html, content="<p>Grant consent</p>"),
                to_recipients=[Recipient(email_address=EmailAddress(address="it@contoso.example"))],
            ),
            save_to_sent_items=False,
        )
        await client.users.by_user_id("alerts@contoso.example").send_mail.post(mail)
        state = await ctl.state()
        [sent] = state["sent_mails"]
        assert sent["from"] == "alerts@contoso.example"
        assert sent["message"]["subject"] == "Webex sync is broken"
        assert sent["message"]["toRecipients"][0]["emailAddress"]["address"] == "it@contoso.example"

        await ctl.delete("integration", actor="eve@contoso.example")
        gone = await client.directory.deleted_items.graph_service_principal.get()
        assert gone is not None and gone.value is not None
        [deleted] = gone.value
        assert deleted.id == original_id and deleted.deleted_date_time is not None

        restored = await client.directory.deleted_items.by_directory_object_id(original_id).restore.post()
        assert isinstance(restored, ServicePrincipal)
        assert restored.id == original_id and restored.app_id == INTEGRATION_APP_ID
        again = await client.service_principals.by_service_principal_id(original_id).get()
        assert again is not None and again.id == original_id
        state = await ctl.state()
        assert state["deleted_items"] == [] and state["integration_healthy"] is True
        assert state["audit_records"][-1]["activityDisplayName"] == "Restore service principal"
        assert "app" in state["audit_records"][-1]["initiatedBy"]  # done by the remediator, not a user
    finally:
        await http.aclose()
        await cred.close()


async def test_graph_sdk_sees_404_and_throttling_as_api_errors(env: dict[str, str], ctl: SimulatorControl) -> None:
    from kiota_abstractions.api_error import APIError
    from kiota_abstractions.authentication import AnonymousAuthenticationProvider
    from msgraph import GraphRequestAdapter, GraphServiceClient

    token = await _graph_token(env)
    http = httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"})
    adapter = GraphRequestAdapter(AnonymousAuthenticationProvider(), client=http)
    adapter.base_url = env["GRAPH_BASE_URL"]
    client = GraphServiceClient(request_adapter=adapter)
    try:
        with pytest.raises(APIError) as missing:
            await client.directory.deleted_items.by_directory_object_id(
                "00000000-0000-0000-0000-000000000001"
            ).restore.post()
        assert missing.value.response_status_code == 404
        assert missing.value.error is not None and missing.value.error.code == "Request_ResourceNotFound"

        await ctl.add_fault(r"/servicePrincipals$", method="GET", status=429, retry_after="200")
        with pytest.raises(APIError) as throttled:
            await client.service_principals.get()
        assert throttled.value.response_status_code == 429
        assert throttled.value.response_headers["retry-after"] == "200"
    finally:
        await http.aclose()


# ---------------------------------------------------------------------- Graph shapes (httpx)
async def test_filters_select_and_unsupported_queries(env: dict[str, str], ctl: SimulatorControl) -> None:
    state = await ctl.state()
    identity_app_id = state["config"]["identity_app_id"]
    async with _graph(env, await _graph_token(env)) as g:
        r = await g.get(
            "/servicePrincipals",
            params={"$filter": f"appId in ('{INTEGRATION_APP_ID}','{identity_app_id.upper()}')", "$select": "appId"},
        )
        assert r.status_code == 200
        body = r.json()
        assert body["@odata.context"].endswith("/$metadata#servicePrincipals(appId)")
        assert sorted(v["appId"] for v in body["value"]) == sorted([INTEGRATION_APP_ID, identity_app_id])
        assert all(set(v) == {"id", "appId"} for v in body["value"])

        r = await g.get("/servicePrincipals", params={"$filter": "displayName eq 'Cisco Webex Identity'"})
        assert [v["appId"] for v in r.json()["value"]] == [identity_app_id]

        r = await g.get("/servicePrincipals", params={"$filter": "appId eq"})
        assert r.status_code == 400
        assert r.json()["error"]["code"] == "Request_UnsupportedQuery"
        assert set(r.json()["error"]["innerError"]) >= {"date", "request-id", "client-request-id"}

        by_key = await g.get(f"/servicePrincipals(appId='{INTEGRATION_APP_ID}')")
        assert by_key.status_code == 200 and by_key.json()["id"] == _sp_id(state)

        r = await g.get("/servicePrincipals/00000000-0000-0000-0000-000000000001")
        assert r.status_code == 404 and r.json()["error"]["code"] == "Request_ResourceNotFound"

        grants = await g.get("/oauth2PermissionGrants", params={"$filter": f"clientId eq '{_sp_id(state)}'"})
        [grant] = grants.json()["value"]
        assert grant["consentType"] == "AllPrincipals" and grant["principalId"] is None

    async with httpx.AsyncClient(base_url=env["GRAPH_BASE_URL"]) as anonymous:
        r = await anonymous.get("/servicePrincipals")
        assert r.status_code == 401 and r.json()["error"]["code"] == "InvalidAuthenticationToken"


def _sp_id(state: dict[str, Any], app_id: str = INTEGRATION_APP_ID) -> str:
    return str(next(sp["id"] for sp in state["service_principals"] if sp["appId"] == app_id))


async def test_directory_audit_records_have_the_real_shape(env: dict[str, str], ctl: SimulatorControl) -> None:
    since = datetime.now(UTC) - timedelta(seconds=5)
    sp_id = _sp_id(await ctl.state())
    await ctl.disable("integration", actor="bob@contoso.example")
    await ctl.delete("integration", hard=True, actor="eve@contoso.example")
    async with _graph(env, await _graph_token(env)) as g:
        r = await g.get(
            "/auditLogs/directoryAudits",
            params={"$filter": f"activityDateTime ge {since:%Y-%m-%dT%H:%M:%SZ}", "$top": "2"},
        )
        body = r.json()
        assert r.status_code == 200 and len(body["value"]) == 2 and "@odata.nextLink" in body
        rest = (await g.get(body["@odata.nextLink"])).json()
        records = body["value"] + rest["value"]
    activities = [rec["activityDisplayName"] for rec in records]
    assert activities == ["Hard delete service principal", "Delete service principal", "Update service principal"]
    hard, soft, update = records
    for rec in records:
        assert re.fullmatch(r"Directory_[0-9a-f-]{36}_[A-Z0-9]{5}_\d+", rec["id"])
        assert rec["id"].split("_")[1] == rec["correlationId"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z", rec["activityDateTime"])
        assert rec["category"] == "ApplicationManagement" and rec["loggedByService"] == "Core Directory"
        assert rec["resultReason"] == "" and "app" not in rec["initiatedBy"]
        assert rec["targetResources"][0]["id"] == sp_id and rec["targetResources"][0]["type"] == "ServicePrincipal"
        assert {"key": "AppId", "value": INTEGRATION_APP_ID} in rec["additionalDetails"]
    assert soft["initiatedBy"]["user"]["userPrincipalName"] == "eve@contoso.example"
    assert soft["operationType"] == "Delete" and hard["operationType"] == "Delete"
    props = {p["displayName"]: p for p in soft["targetResources"][0]["modifiedProperties"]}
    assert json.loads(props["AppPrincipalId"]["oldValue"]) == [INTEGRATION_APP_ID]
    assert props["AppPrincipalId"]["newValue"] == "[]"
    changed = {p["displayName"]: p for p in update["targetResources"][0]["modifiedProperties"]}
    assert changed["AccountEnabled"]["oldValue"] == "[true]" and changed["AccountEnabled"]["newValue"] == "[false]"
    assert changed["Included Updated Properties"]["newValue"] == '"AccountEnabled"'
    assert json.loads(changed["Included Updated Properties"]["newValue"]) == "AccountEnabled"


async def test_directory_audits_filter_is_evaluated_and_held_to_what_graph_documents(
    env: dict[str, str], ctl: SimulatorControl
) -> None:
    await ctl.graph_behaviour(audit_rate_limit=0)  # eight queries in a row: about filters, not the rate limit
    since = datetime.now(UTC) - timedelta(seconds=5)
    noise = await ctl.activity("Update user")
    owner = await ctl.activity("Add owner to service principal", app="integration")
    (deleted,) = await ctl.delete("identity")
    start = f"{since:%Y-%m-%dT%H:%M:%SZ}"
    wanted = (
        "(activityDisplayName eq 'Delete service principal' or activityDisplayName eq 'Hard delete service principal')"
    )
    async with _graph(env, await _graph_token(env)) as g:
        r = await g.get("/auditLogs/directoryAudits", params={"$filter": f"activityDateTime ge {start} and {wanted}"})
        assert r.status_code == 200
        assert [v["id"] for v in r.json()["value"]] == [deleted["id"]]
        r = await g.get("/auditLogs/directoryAudits", params={"$filter": "startswith(activityDisplayName, 'Update')"})
        assert [v["id"] for v in r.json()["value"]] == [noise["id"]]
        r = await g.get(
            "/auditLogs/directoryAudits",
            params={"$filter": "targetResources/any(t: t/displayName eq 'Cisco Webex Identity Integration')"},
        )
        assert [v["id"] for v in r.json()["value"]] == [owner["id"]]
        for undocumented in (
            "category eq 'ApplicationManagement'",
            "activityDisplayName in ('Delete service principal')",
            "activityDisplayName ne 'Update user'",
            "not (activityDisplayName eq 'Update user')",
            f"activityDateTime gt {start}",
        ):
            r = await g.get("/auditLogs/directoryAudits", params={"$filter": undocumented})
            assert r.status_code == 400, undocumented
            assert r.json()["error"]["code"] == "Request_UnsupportedQuery"


async def test_delta_reports_soft_then_hard_deletion(env: dict[str, str], ctl: SimulatorControl) -> None:
    sp_id = _sp_id(await ctl.state())
    async with _graph(env, await _graph_token(env)) as g:
        first = (await g.get("/servicePrincipals/delta()", params={"$top": "2"})).json()
        assert len(first["value"]) == 2 and "@odata.nextLink" in first
        last = (await g.get(first["@odata.nextLink"])).json()
        assert len(last["value"]) == 1 and "@odata.deltaLink" in last
        delta_link = last["@odata.deltaLink"]
        assert (await g.get(delta_link)).json()["value"] == []

        await ctl.delete("integration")
        after_soft = (await g.get(delta_link)).json()
        assert after_soft["value"] == [{"id": sp_id, "@removed": {"reason": "changed"}}]

        await ctl.delete("integration", hard=True)
        after_hard = (await g.get(after_soft["@odata.deltaLink"])).json()
        assert after_hard["value"] == [{"id": sp_id, "@removed": {"reason": "deleted"}}]

        one = (await g.get("/servicePrincipals/delta", params={"$filter": f"id eq '{sp_id}'"})).json()
        assert one["value"] == []
        bad = await g.get("/servicePrincipals/delta", params={"$filter": "appId eq 'x'"})
        assert bad.status_code == 400


async def test_send_mail_validates_the_body(env: dict[str, str]) -> None:
    async with _graph(env, await _graph_token(env)) as g:
        r = await g.post("/users/alerts@contoso.example/sendMail", json={"message": {"subject": "x"}})
        assert r.status_code == 400 and "error" in r.json()
        ok = {
            "message": {
                "subject": "s",
                "body": {"contentType": "Text", "content": "c"},
                "toRecipients": [{"emailAddress": {"address": "a@b.example"}}],
            }
        }
        r = await g.post("/users/alerts@contoso.example/sendMail", json=ok)
        assert r.status_code == 202 and r.content == b""


# ---------------------------------------------------------------------- Log Analytics
async def test_logs_query_client_returns_rows_once_ingested(env: dict[str, str], ctl: SimulatorControl) -> None:
    from azure.identity.aio import ClientSecretCredential
    from azure.monitor.query import LogsQueryStatus
    from azure.monitor.query.aio import LogsQueryClient

    await ctl.reset(ingestion_delay_seconds=300)
    [record] = await ctl.delete("integration", actor="eve@contoso.example")
    query = "AuditLogs | where ActivityDisplayName == 'Delete service principal'"
    async with (
        ClientSecretCredential(
            env["AZURE_TENANT_ID"],
            env["AZURE_CLIENT_ID"],
            env["AZURE_CLIENT_SECRET"],
            authority=env["AZURE_AUTHORITY_HOST"],
            connection_verify=env["SSL_CERT_FILE"],
        ) as cred,
        LogsQueryClient(cred, endpoint=env["LOG_ANALYTICS_ENDPOINT"], connection_verify=env["SSL_CERT_FILE"]) as logs,
    ):
        end = datetime.now(UTC) + timedelta(hours=1)
        early = await logs.query_workspace(
            env["LOG_ANALYTICS_WORKSPACE_ID"], query, timespan=(end - timedelta(hours=2), end)
        )
        assert early.status == LogsQueryStatus.SUCCESS and early.tables[0].rows == []  # not ingested yet

        await ctl.advance_clock(301)
        result = await logs.query_workspace(
            env["LOG_ANALYTICS_WORKSPACE_ID"], query, timespan=(end - timedelta(hours=2), end)
        )
        assert result.status == LogsQueryStatus.SUCCESS
        table = result.tables[0]
        [row] = table.rows
        assert table.columns[:3] == ["TenantId", "SourceSystem", "TimeGenerated"]
        assert row["Id"] == record["id"] and row["ActivityDisplayName"] == "Delete service principal"
        assert isinstance(row["TimeGenerated"], datetime) and isinstance(row["ActivityDateTime"], datetime)
        assert row["TimeGenerated"] - row["ActivityDateTime"] == timedelta(seconds=300)
        targets = json.loads(row["TargetResources"])  # dynamic columns: JSON text, camelCase inside
        assert targets[0]["modifiedProperties"][1]["displayName"] == "AppPrincipalId"
        assert json.loads(row["InitiatedBy"])["user"]["userPrincipalName"] == "eve@contoso.example"
        assert row["AADOperationType"] == "Delete" and row["AADTenantId"] == env["TENANT_ID"]

        duration = await logs.query_workspace(env["LOG_ANALYTICS_WORKSPACE_ID"], query, timespan=timedelta(hours=1))
        assert len(duration.tables[0].rows) == 1

        from azure.core.exceptions import HttpResponseError

        with pytest.raises(HttpResponseError) as missing:
            await logs.query_workspace("00000000-0000-0000-0000-000000000000", query, timespan=timedelta(hours=1))
        assert missing.value.status_code == 404 and "PathNotFoundError" in str(missing.value)

    queries = (await ctl.state())["log_analytics_queries"]
    assert queries[0]["query"] == query and "/" in queries[0]["timespan"]
    assert queries[2]["timespan"].startswith("PT")
    [first, *_] = await ctl.requests(path="/loganalytics/")
    assert first["token_valid"] and first["token_scope"] == env["LOG_ANALYTICS_ENDPOINT"] + "/.default"


# ---------------------------------------------------------------------- Webex
async def test_webex_status_follows_delete_and_consent(env: dict[str, str], ctl: SimulatorControl) -> None:
    url = f"{env['WEBEX_IDENTITY_BASE']}/extIntegration/azureAD/{env['WEBEX_ORG_ID']}/v1/WebexApplications/status"
    auth = {"Authorization": f"Bearer {env['WEBEX_ACCESS_TOKEN']}"}
    old_id = _sp_id(await ctl.state())
    async with httpx.AsyncClient(headers=auth) as http:
        ok = await http.get(url)
        assert ok.status_code == 200 and ok.json()["status"] == "ENABLED"

        await ctl.delete("integration")
        broken = await http.get(url)
        assert broken.status_code == 401
        body = broken.json()
        assert set(body) == {"error", "trackingId"} and body["error"]["key"] == "401"
        [msg] = body["error"]["message"]
        assert msg["code"] == "701018"
        assert re.fullmatch(r"Request unauthorized\. client-request-id: [0-9a-f-]{36}", msg["description"])
        assert re.fullmatch(r"ATLAS_[0-9a-f-]{36}_\d+", body["trackingId"])
        assert broken.headers["trackingid"] == body["trackingId"]

        consent = await ctl.consent(actor="admin@contoso.example")
        assert [r["activityDisplayName"] for r in consent["records"]] == [
            "Add service principal",
            "Consent to application",
        ]
        assert consent["service_principal"]["id"] != old_id
        assert (await http.get(url)).status_code == 200

        await ctl.disable("integration")
        assert (await http.get(url)).status_code == 401
        await ctl.enable("integration")
        await ctl.revoke()
        revoked = await http.get(url)
        assert revoked.status_code == 401 and revoked.json()["error"]["message"][0]["code"] == "701018"
        assert (await ctl.state())["audit_records"][-1]["activityDisplayName"] == "Remove delegated permission grant"


async def test_webex_messages_and_scim(env: dict[str, str], ctl: SimulatorControl) -> None:
    bot = {"Authorization": f"Bearer {env['WEBEX_BOT_TOKEN']}"}
    async with httpx.AsyncClient(base_url=env["WEBEX_API_BASE"], headers=bot) as wx:
        r = await wx.post("/messages", json={"roomId": env["WEBEX_ROOM_ID"], "markdown": "**Webex sync broken**"})
        assert r.status_code == 200 and r.headers["trackingid"].startswith("ROUTER_")
        parent = r.json()
        assert parent["roomId"] == env["WEBEX_ROOM_ID"] and parent["text"] == "Webex sync broken"
        reply = await wx.post(
            "/messages", json={"roomId": env["WEBEX_ROOM_ID"], "markdown": "fixed", "parentId": parent["id"]}
        )
        assert reply.json()["parentId"] == parent["id"]

        big = await wx.post("/messages", json={"roomId": env["WEBEX_ROOM_ID"], "markdown": "é" * 3720})
        assert big.status_code == 400 and big.json()["trackingId"] == big.headers["trackingid"]
        assert big.json()["errors"][0]["description"]

        me = await wx.get("/people/me")
        assert me.json()["type"] == "bot"
        bad = await wx.get("/people/me", headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 401 and "trackingId" in bad.json()

        scim_url = env["WEBEX_API_BASE"].removesuffix("/v1") + f"/identity/scim/{env['WEBEX_ORG_ID']}/v2/Users"
        refused = await wx.get(scim_url, params={"count": "1"})  # a bot's token has no identity:people_read
        assert refused.status_code == 403 and "identity:people_read" in refused.json()["message"]
        admin = {"Authorization": f"Bearer {env['WEBEX_ACCESS_TOKEN']}"}
        scim = await wx.get(scim_url, params={"count": "1"}, headers=admin)
        assert scim.status_code == 200
        assert scim.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:ListResponse"]
        assert len(scim.json()["Resources"]) == 1
    assert len((await ctl.state())["webex_messages"]) == 2


# ---------------------------------------------------------------------- faults and recording
async def test_faults_throttle_garble_delay_and_drop(env: dict[str, str], ctl: SimulatorControl) -> None:
    async with _graph(env, await _graph_token(env)) as g:
        await ctl.add_fault(r"/auditLogs/", status=429, retry_after="2.128", times=2)
        for _ in range(2):
            r = await g.get("/auditLogs/directoryAudits")
            assert r.status_code == 429 and r.headers["Retry-After"] == "2.128"
            assert r.json()["error"]["code"] == "TooManyRequests"
        assert (await g.get("/auditLogs/directoryAudits")).status_code == 200  # used up

        await ctl.add_fault(r"/servicePrincipals", malformed=True)
        garbled = await g.get("/servicePrincipals")
        assert garbled.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            garbled.json()

        await ctl.add_fault(r"/servicePrincipals", drop=True)
        with pytest.raises(httpx.RemoteProtocolError):
            await g.get("/servicePrincipals")

        await ctl.add_fault(r"/servicePrincipals", delay=0.3)
        with pytest.raises(httpx.ReadTimeout):
            await g.get("/servicePrincipals", timeout=0.1)

        await ctl.add_fault(r"/servicePrincipals", status=503, body="<html>gateway</html>", times=None)
        for _ in range(2):
            r = await g.get("/servicePrincipals")
            assert r.status_code == 503 and r.text == "<html>gateway</html>"
        assert await ctl.clear_faults() == 1
        assert (await g.get("/servicePrincipals")).status_code == 200

    async with httpx.AsyncClient() as http:
        await ctl.add_fault(r"^/webexapis/v1/messages$", method="POST", status=429, retry_after="7", body="")
        r = await http.post(f"{env['WEBEX_API_BASE']}/messages", json={})
        assert r.status_code == 429 and r.headers["Retry-After"] == "7" and r.content == b""
        assert r.headers["trackingid"].startswith("ROUTER_")

    with pytest.raises(SimulatorControlError):
        await ctl.add_fault("(", status=500)


async def test_requests_are_recorded_with_auth_redacted(env: dict[str, str], ctl: SimulatorControl) -> None:
    token = await _graph_token(env)
    await ctl.clear_requests()
    async with _graph(env, token) as g:
        await g.get("/servicePrincipals", params={"$filter": f"appId eq '{INTEGRATION_APP_ID}'"})
        await g.patch(f"/servicePrincipals/{_sp_id(await ctl.state())}", json={"notes": "watched"})
    [listing] = await ctl.requests(path=r"/servicePrincipals$", method="GET")
    assert listing["query"] == {"$filter": f"appId eq '{INTEGRATION_APP_ID}'"}
    assert listing["headers"]["Authorization"] == "Bearer <redacted>"
    assert listing["authorization"] is True and listing["token_valid"] is True and listing["status"] == 200
    assert token not in json.dumps(await ctl.requests())
    [patch] = await ctl.requests(method="PATCH")
    assert patch["json"] == {"notes": "watched"} and patch["status"] == 204
    assert await ctl.clear_requests() == 2


async def test_scenario_errors_and_clock(ctl: SimulatorControl) -> None:
    with pytest.raises(SimulatorControlError) as err:
        await ctl.delete("nothing")
    assert err.value.status == 400
    await ctl.delete("identity")
    with pytest.raises(SimulatorControlError):
        await ctl.delete("identity")
    before = (await ctl.state())["now"]
    moved = await ctl.advance_clock(3600)
    assert moved["offset_seconds"] == 3600 and moved["now"] > before


# ---------------------------------------------------------------------- other ways to run it
def test_simulator_thread_serves_sync_callers() -> None:
    with SimulatorThread() as sim:
        env = sim.env()
        r = httpx.get(f"{sim.base_url}/_sim/state", verify=sim.simulator.tls.client_context())
        assert r.status_code == 200 and r.json()["integration_healthy"] is True
        assert sim.call(lambda state: state.integration_healthy()) is True
        assert env["GRAPH_BASE_URL"] == f"{sim.base_url}/graph/v1.0"


TRUST_SCRIPT = """
import asyncio, os
from simulator.server import Simulator  # imports aiohttp: its default SSL context is now fixed
from simulator.tls import trust_in_process
from azure.identity.aio import ClientSecretCredential

async def main():
    async with Simulator() as sim:
        env = sim.env()
        os.environ["SSL_CERT_FILE"] = env["SSL_CERT_FILE"]
        async def token():
            async with ClientSecretCredential(env["AZURE_TENANT_ID"], env["AZURE_CLIENT_ID"],
                                              env["AZURE_CLIENT_SECRET"], authority=env["AZURE_AUTHORITY_HOST"],
                                              retry_total=0) as c:
                return (await c.get_token(env["SIMULATOR_URL"] + "/.default")).token
        try:
            await token()
            print("env-only:trusted")
        except Exception:
            print("env-only:untrusted")
        trust_in_process(env["SSL_CERT_FILE"])
        print("after-trust:" + ("trusted" if await token() else "untrusted"))

asyncio.run(main())
"""


async def test_trust_in_process_reaches_aiohttp_default_context() -> None:
    """SSL_CERT_FILE set after aiohttp's import is not enough for azure-core's aiohttp transport;
    ``trust_in_process`` is (run in a child so this process's trust is left alone)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", TRUST_SCRIPT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert out.decode().split() == ["env-only:untrusted", "after-trust:trusted"]


async def test_module_entry_point_prints_env_and_stops_on_sigterm() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "simulator", stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 20)
        env = json.loads(line)
        expected = {
            "GRAPH_BASE_URL",
            "LOG_ANALYTICS_ENDPOINT",
            "WEBEX_API_BASE",
            "WEBEX_IDENTITY_BASE",
            "AZURE_AUTHORITY_HOST",
            "AZURE_TENANT_ID",
            "AZURE_CLIENT_ID",
            "AZURE_CLIENT_SECRET",
            "SSL_CERT_FILE",
            "TENANT_ID",
            "WEBEX_ORG_ID",
            "WEBEX_ACCESS_TOKEN",
            "WEBEX_BOT_TOKEN",
            "WEBEX_ROOM_ID",
            "LOG_ANALYTICS_WORKSPACE_ID",
            "WEBEX_IDENTITY_APP_ID",
        }
        assert expected <= set(env)
        async with SimulatorControl(env["SIMULATOR_URL"], verify=env["SSL_CERT_FILE"]) as control:
            assert (await control.state())["integration_healthy"] is True
    finally:
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), 10) == 0
