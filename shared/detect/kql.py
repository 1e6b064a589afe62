"""The shipped KQL for the alert re-query (override with the ``ALERT_QUERY`` setting).

Log search alerts (Log Alerts V2) never carry their rows, so the alert endpoint re-runs this over the
alert's window, widened for ingestion delay. Comparisons are case-insensitive (``in~``, ``has``)
because activity names and ids differ in casing between documents and real data.
"""

from __future__ import annotations

from shared.core.catalogue import IDENTITY_APP_NAME, INTEGRATION_APP_ID
from shared.detect.classify import WATCHED_ACTIVITIES

__all__ = ["WATCHED_ACTIVITIES", "default_alert_query"]


def default_alert_query(identity_app_id: str | None = None) -> str:
    """KQL over ``AuditLogs`` for the Webex apps; the time range is passed as the query timespan."""
    activities = ", ".join(f'"{a}"' for a in WATCHED_ACTIVITIES)
    needles = [INTEGRATION_APP_ID, IDENTITY_APP_NAME]
    if identity_app_id:
        needles.append(identity_app_id)
    terms = ", ".join(f'"{n}"' for n in needles)
    return (
        "AuditLogs\n"
        f"| where ActivityDisplayName in~ ({activities})\n"
        f"| where tostring(TargetResources) has_any ({terms}) or tostring(AdditionalDetails) has_any ({terms})\n"
        "| project TimeGenerated, Id, ActivityDateTime, ActivityDisplayName, AADTenantId, Category, CorrelationId,"
        " Result, ResultReason, LoggedByService, OperationName, InitiatedBy, TargetResources, AdditionalDetails\n"
        "| order by ActivityDateTime asc"
    )
