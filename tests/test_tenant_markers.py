"""Issue 15, point 10: a record is foreign when ANY tenant marker it carries names another tenant —
``tenantId`` (envelope, record), ``AADTenantId``, ``resourceId`` (``/tenants/{guid}/…``), the 2019
stream's ``TenantContextID``, an Event Grid/CloudEvents ``source``/``subject`` — not only when its
``tenantId`` does. Log Analytics' ``TenantId`` column is the workspace, never a tenant."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from shared.detect.normalize import extract, extract_json
from shared.detect.normalize.tenant import CONFLICT, merged_tenant, tenant_in_path

OURS = "2f4a6c8e-1b3d-4f5a-8c7e-9d0b1a2c3e4f"
FOREIGN = "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b"
APP = "90db942a-c1eb-4e8d-82e4-eebf64a7e2ae"


def _directory_audit(**extra: Any) -> dict[str, Any]:
    return {
        "id": "Directory_" + uuid.uuid4().hex,
        "category": "ApplicationManagement",
        "correlationId": str(uuid.uuid4()),
        "result": "success",
        "activityDisplayName": "Delete service principal",
        "activityDateTime": "2026-11-29T10:00:00.1234567+00:00",
        "loggedByService": "Core Directory",
        "operationType": "Delete",
        "initiatedBy": {"user": {"userPrincipalName": "mallory@contoso.example"}},
        "targetResources": [
            {
                "id": str(uuid.uuid4()),
                "displayName": "Cisco Webex Identity Integration",
                "type": "ServicePrincipal",
                "modifiedProperties": [{"displayName": "AppId", "oldValue": json.dumps(APP), "newValue": None}],
            }
        ],
        "additionalDetails": [],
        **extra,
    }


def _diagnostic(envelope: dict[str, Any], props: dict[str, Any]) -> dict[str, Any]:
    return {
        "records": [
            {
                "time": "2026-11-29T10:00:05.1234567Z",
                "operationName": "Delete service principal",
                "category": "AuditLogs",
                "properties": props,
                **envelope,
            }
        ]
    }


def _la_table(row: dict[str, Any]) -> dict[str, Any]:
    names = list(row)
    return {
        "tables": [
            {
                "name": "PrimaryResult",
                "columns": [{"name": n, "type": "string"} for n in names],
                "rows": [[row[n] if not isinstance(row[n], list | dict) else json.dumps(row[n]) for n in names]],
            }
        ]
    }


def _la_row(**extra: Any) -> dict[str, Any]:
    rec = _directory_audit()
    return {
        "TimeGenerated": "2026-11-29T10:00:05.1234567Z",
        "Id": rec["id"],
        "Category": rec["category"],
        "CorrelationId": rec["correlationId"],
        "Result": "success",
        "ActivityDisplayName": rec["activityDisplayName"],
        "ActivityDateTime": rec["activityDateTime"],
        "LoggedByService": rec["loggedByService"],
        "OperationName": "Delete service principal",
        "InitiatedBy": rec["initiatedBy"],
        "TargetResources": rec["targetResources"],
        "AdditionalDetails": [],
        "SourceSystem": "Azure AD",
        **extra,
    }


def _tenant_of(payload: dict[str, Any]) -> str | None:
    (record,) = extract_json(json.dumps(payload), limit=1 << 20).records
    return record.tenant_id


def _foreign(tenant: str | None) -> bool:
    """What the pipeline does with it (shared.app.pipeline: a tenant other than ours is dropped)."""
    return bool(tenant) and str(tenant).lower() != OURS


RESOURCE = f"/tenants/{FOREIGN}/providers/Microsoft.aadiam"
OURS_RESOURCE = f"/tenants/{OURS}/providers/Microsoft.aadiam"


@pytest.mark.parametrize(
    ("shape", "payload"),
    [
        ("diagnostic: resourceId only", _diagnostic({"resourceId": RESOURCE}, _directory_audit())),
        (
            "diagnostic: tenantId ours, resourceId foreign",
            _diagnostic({"tenantId": OURS, "resourceId": RESOURCE}, _directory_audit()),
        ),
        (
            "diagnostic: envelope ours, record tenantId foreign",
            _diagnostic({"tenantId": OURS}, _directory_audit(tenantId=FOREIGN)),
        ),
        (
            "diagnostic: record resourceId foreign",
            _diagnostic({"tenantId": OURS}, _directory_audit(resourceId=RESOURCE)),
        ),
        ("diagnostic: aadTenantId foreign", _diagnostic({"tenantId": OURS}, _directory_audit(aadTenantId=FOREIGN))),
        ("log analytics: ResourceId only", _la_table(_la_row(ResourceId=RESOURCE))),
        (
            "log analytics: AADTenantId ours, ResourceId foreign",
            _la_table(_la_row(AADTenantId=OURS, ResourceId=RESOURCE)),
        ),
        ("log analytics row object: ResourceId foreign", {"value": [_la_row(AADTenantId=OURS, ResourceId=RESOURCE)]}),
        ("graph record: resourceId foreign", {"value": [_directory_audit(resourceId=RESOURCE)]}),
    ],
)
def test_any_foreign_marker_makes_the_record_foreign(shape: str, payload: dict[str, Any]) -> None:
    assert _foreign(_tenant_of(payload)), shape


def test_legacy_2019_record_with_a_foreign_resource_id() -> None:
    record = {
        "time": "2026-11-29T10:00:05.1234567Z",
        "resourceId": RESOURCE,
        "operationName": "Delete service principal",
        "category": "AuditLogs",
        "resultType": "Success",
        "correlationId": str(uuid.uuid4()),
        "identity": "mallory@contoso.example",
        "properties": {
            "id": "Directory_" + uuid.uuid4().hex,
            "identityType": "Upn",
            "targetResourceType": "ObjectID__AppId__TenantContextID",
            "targetResourceName": f"{uuid.uuid4()}__{APP}__{OURS}",
        },
    }
    assert _foreign(_tenant_of({"records": [record]}))


@pytest.mark.parametrize(
    ("envelope_key", "value", "cloud"),
    [
        ("source", f"/tenants/{FOREIGN}/applications/{APP}", True),
        ("subject", f"/tenants/{FOREIGN}/auditLogs/directoryAudits", True),
        ("subject", f"tenants/{FOREIGN}/directoryAudits", False),
        ("topic", f"/tenants/{FOREIGN}/providers/Microsoft.EventGrid/topics/audit", False),
    ],
)
def test_event_envelope_naming_another_tenant(envelope_key: str, value: str, cloud: bool) -> None:
    data = {"value": [_directory_audit()]}
    if cloud:
        event = {"specversion": "1.0", "id": "e1", "type": "Webex.AuditRecord", "source": "/x", "data": data}
    else:
        event = {"id": "e1", "eventType": "Webex.AuditRecord", "subject": "s", "topic": "/t", "dataVersion": "1",
                 "eventTime": "2026-11-29T10:00:05Z", "data": data}  # fmt: skip
    event[envelope_key] = value
    (record,) = extract([event]).records
    assert _foreign(record.tenant_id)


@pytest.mark.parametrize(
    "payload",
    [
        _diagnostic({"tenantId": OURS, "resourceId": OURS_RESOURCE}, _directory_audit()),
        _diagnostic({"tenantId": OURS.upper()}, _directory_audit(tenantId=OURS)),
        # TenantId is the workspace in Log Analytics, not the Entra tenant: never a marker.
        _la_table(_la_row(AADTenantId=OURS, TenantId=FOREIGN, ResourceId=OURS_RESOURCE)),
        {"value": [_directory_audit()]},  # a Graph page carries no marker: the tenant we asked
    ],
)
def test_records_of_our_tenant_stay_ours(payload: dict[str, Any]) -> None:
    assert not _foreign(_tenant_of(payload))


def test_merge_and_path_rules() -> None:
    assert merged_tenant(None, "", "  ") is None
    assert merged_tenant(OURS, OURS.upper(), None) == OURS
    assert merged_tenant(OURS, FOREIGN).startswith(CONFLICT)
    assert tenant_in_path(f"/TENANTS/{FOREIGN}/x") == FOREIGN
    assert tenant_in_path("/subscriptions/1/resourceGroups/tenants-rg") is None
    assert tenant_in_path(None) is None and tenant_in_path(42) is None
    assert tenant_in_path("/tenants/") is None
    assert tenant_in_path("x" * 10_000 + f"/tenants/{FOREIGN}") is None, "only the start is searched"
    assert len(merged_tenant(*(str(uuid.uuid4()) for _ in range(1000))) or "") <= 300


async def test_pipeline_drops_a_record_whose_resource_id_names_another_tenant(
    sim: Any, app_functions: dict[str, Any], services_env: dict[str, str]
) -> None:
    """End to end: the integration's real deletion record, pushed by Event Grid inside a
    diagnostic envelope whose resourceId names another tenant (no tenantId), opens nothing."""
    from tests.helpers import eventgrid_event, incidents, run_intake

    records = await sim.delete("integration", actor="mallory@contoso.example")
    foreign = {"records": [{"time": records[0]["activityDateTime"], "category": "AuditLogs",
                            "operationName": records[0]["activityDisplayName"],
                            "resourceId": RESOURCE, "properties": records[0]}]}  # fmt: skip
    handler = app_functions["eventgrid_audit"].get_user_function()
    await handler(eventgrid_event(foreign))
    await run_intake(app_functions)
    assert await incidents() == []
    ours = dict(foreign["records"][0], resourceId=f"/tenants/{services_env['TENANT_ID']}/providers/Microsoft.aadiam")
    await handler(eventgrid_event({"records": [ours]}))
    await run_intake(app_functions)
    assert [i.kind for i in await incidents()] == ["integration_deleted"], "the control: our tenant opens one"
