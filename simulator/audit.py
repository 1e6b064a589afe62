"""Entra audit records in the shapes the real services publish.

Graph ``directoryAudit`` objects (``/auditLogs/directoryAudits``) and Log Analytics ``AuditLogs``
rows are derived from one record, so the two detection paths see the same change with the same
``id`` — what the project's cross-source dedupe relies on. The shapes follow captured data, not the
docs' idealised examples: ids are ``Directory_<correlationId>_<code>_<n>``, ``initiatedBy`` may hold
only ``user`` or only ``app``, ``resultReason`` is ``""``, ``modifiedProperties`` values are
JSON-encoded strings and "Included Updated Properties" is encoded twice.
"""

from __future__ import annotations

import json
import random
import string
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from simulator.timefmt import graph_time

USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0"
)
GRAPH_USER_AGENT = "python-httpx/0.28.1 kiota-python/1.0 msgraph-sdk-python"


def encoded(values: list[Any]) -> str:
    """A ``modifiedProperties`` value: the JSON text of a list (``"[true]"``, ``"[\\"guid\\"]"``)."""
    return json.dumps(values, separators=(",", ":"))


def prop(name: str, old: list[Any] | None, new: list[Any] | None) -> dict[str, Any]:
    return {
        "displayName": name,
        "oldValue": None if old is None else encoded(old),
        "newValue": None if new is None else encoded(new),
    }


def included(names: list[str]) -> dict[str, Any]:
    """ "Included Updated Properties": a JSON string inside the JSON string (double-encoded)."""
    return {"displayName": "Included Updated Properties", "oldValue": None, "newValue": json.dumps(", ".join(names))}


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did it: a user (portal, by UPN) or an app (the remediator's own client credential)."""

    upn: str | None = None
    app_id: str | None = None
    app_name: str | None = None
    sp_id: str | None = None

    def initiated_by(self, tenant_id: str) -> dict[str, Any]:
        if self.upn:
            return {
                "user": {
                    "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"upn:{self.upn.lower()}")),
                    "displayName": None,
                    "userPrincipalName": self.upn,
                    "ipAddress": "198.51.100.23",
                    "userType": None,
                    "homeTenantId": tenant_id,
                    "homeTenantName": None,
                }
            }
        return {
            "app": {
                "appId": self.app_id,
                "displayName": self.app_name,
                "servicePrincipalId": self.sp_id,
                "servicePrincipalName": None,
            }
        }

    @property
    def label(self) -> str:
        return self.upn or self.app_name or self.app_id or "unknown"


def record_id(correlation_id: str, rng: random.Random) -> str:
    code = "".join(rng.choices(string.ascii_uppercase + string.digits, k=5))
    return f"Directory_{correlation_id}_{code}_{rng.randrange(10**8, 10**9)}"


def directory_audit(
    *,
    activity: str,
    operation_type: str,
    when: datetime,
    tenant_id: str,
    actor: Actor,
    target_id: str,
    target_name: str | None,
    app_id: str,
    modified: list[dict[str, Any]],
    rng: random.Random,
    correlation_id: str | None = None,
    target_type: str = "ServicePrincipal",
) -> dict[str, Any]:
    """One ``directoryAudit`` exactly as Graph returns it."""
    correlation = correlation_id or str(uuid.UUID(int=rng.getrandbits(128), version=4))
    user_agent = USER_AGENT if actor.upn else GRAPH_USER_AGENT
    return {
        "id": record_id(correlation, rng),
        "category": "ApplicationManagement",
        "correlationId": correlation,
        "result": "success",
        "resultReason": "",
        "activityDisplayName": activity,
        "activityDateTime": graph_time(when),
        "loggedByService": "Core Directory",
        "operationType": operation_type,
        "initiatedBy": actor.initiated_by(tenant_id),
        "targetResources": [
            {
                "id": target_id,
                "displayName": target_name,
                "type": target_type,
                "userPrincipalName": None,
                "groupType": None,
                "modifiedProperties": modified,
            }
        ],
        "additionalDetails": [
            {"key": "AppId", "value": app_id},
            {"key": "User-Agent", "value": user_agent},
        ],
    }


@dataclass(slots=True)
class AuditEntry:
    """A record plus when Log Analytics ingested it (``TimeGenerated``)."""

    record: dict[str, Any]
    activity_time: datetime
    time_generated: datetime


AUDITLOGS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("TenantId", "string"),
    ("SourceSystem", "string"),
    ("TimeGenerated", "datetime"),
    ("ResourceId", "string"),
    ("OperationName", "string"),
    ("OperationVersion", "string"),
    ("Category", "string"),
    ("ResultType", "string"),
    ("ResultSignature", "string"),
    ("ResultDescription", "string"),
    ("DurationMs", "long"),
    ("CorrelationId", "string"),
    ("Resource", "string"),
    ("ResourceGroup", "string"),
    ("ResourceProvider", "string"),
    ("Identity", "string"),
    ("Level", "string"),
    ("Location", "string"),
    ("AdditionalDetails", "dynamic"),
    ("Id", "string"),
    ("InitiatedBy", "dynamic"),
    ("LoggedByService", "string"),
    ("Result", "string"),
    ("ResultReason", "string"),
    ("TargetResources", "dynamic"),
    ("AADTenantId", "string"),
    ("ActivityDisplayName", "string"),
    ("ActivityDateTime", "datetime"),
    ("AADOperationType", "string"),
    ("Type", "string"),
)
"""The ``AuditLogs`` columns (reference/payloads/loganalytics_AuditLogs_table_columns.md) in the
order the query API returns them for ``AuditLogs`` without ``project``."""


def _identity(initiated_by: dict[str, Any]) -> str:
    user = initiated_by.get("user") or {}
    app = initiated_by.get("app") or {}
    return str(user.get("displayName") or user.get("userPrincipalName") or app.get("displayName") or "")


def auditlogs_row(entry: AuditEntry, tenant_id: str, workspace_id: str) -> list[Any]:
    """The ``AuditLogs`` row for ``entry``: PascalCase columns; dynamic columns are JSON text whose
    nested keys stay camelCase, as the query API returns them."""
    rec = entry.record
    values: dict[str, Any] = {
        "TenantId": workspace_id,
        "SourceSystem": "Azure AD",
        "TimeGenerated": graph_time(entry.time_generated),
        "ResourceId": f"/tenants/{tenant_id}/providers/Microsoft.aadiam",
        "OperationName": rec["activityDisplayName"],
        "OperationVersion": "1.0",
        "Category": rec["category"],
        "ResultType": "",
        "ResultSignature": "None",
        "ResultDescription": "",
        "DurationMs": 0,
        "CorrelationId": rec["correlationId"],
        "Resource": "Microsoft.aadiam",
        "ResourceGroup": "Microsoft.aadiam",
        "ResourceProvider": "",
        "Identity": _identity(rec["initiatedBy"]),
        "Level": "4",
        "Location": "",
        "AdditionalDetails": json.dumps(rec["additionalDetails"], separators=(",", ":")),
        "Id": rec["id"],
        "InitiatedBy": json.dumps(rec["initiatedBy"], separators=(",", ":")),
        "LoggedByService": rec["loggedByService"],
        "Result": rec["result"],
        "ResultReason": rec["resultReason"],
        "TargetResources": json.dumps(rec["targetResources"], separators=(",", ":")),
        "AADTenantId": tenant_id,
        "ActivityDisplayName": rec["activityDisplayName"],
        "ActivityDateTime": rec["activityDateTime"],
        "AADOperationType": rec["operationType"],
        "Type": "AuditLogs",
    }
    return [values[name] for name, _ in AUDITLOGS_COLUMNS]


def ingestion_time(activity_time: datetime, delay_seconds: float) -> datetime:
    return activity_time + timedelta(seconds=delay_seconds)
