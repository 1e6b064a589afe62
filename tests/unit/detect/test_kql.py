"""shared/detect/kql.py: the shipped alert re-query, written out as the literal Log Analytics runs.

If a rule row adds an activity, this literal changes with it: the KQL shipped to every tenant did.
"""

from __future__ import annotations

from shared.detect.kql import default_alert_query

ACTIVITIES = (
    '"Delete service principal", "Remove service principal", "Hard delete service principal", '
    '"Update service principal", "Remove delegated permission grant", '
    '"Remove app role assignment from service principal", "Consent to application", "Add service principal", '
    '"Restore service principal"'
)
PROJECT = (
    "| project TimeGenerated, Id, ActivityDateTime, ActivityDisplayName, AADTenantId, Category, CorrelationId,"
    " Result, ResultReason, LoggedByService, OperationName, InitiatedBy, TargetResources, AdditionalDetails\n"
)


def test_the_default_query_names_the_integration_and_the_identity_app_by_name() -> None:
    terms = '"90db942a-c1eb-4e8d-82e4-eebf64a7e2ae", "Cisco Webex Identity"'
    assert default_alert_query() == (
        "AuditLogs\n"
        f"| where ActivityDisplayName in~ ({ACTIVITIES})\n"
        f"| where tostring(TargetResources) has_any ({terms}) or tostring(AdditionalDetails) has_any ({terms})\n"
        f"{PROJECT}"
        "| order by ActivityDateTime asc"
    )


def test_a_configured_identity_app_id_is_one_more_term() -> None:
    terms = '"90db942a-c1eb-4e8d-82e4-eebf64a7e2ae", "Cisco Webex Identity", "5b6f0e2c-3c1a-4e0e-9f3e-2a8d6c1b7e44"'
    assert default_alert_query("5b6f0e2c-3c1a-4e0e-9f3e-2a8d6c1b7e44") == (
        "AuditLogs\n"
        f"| where ActivityDisplayName in~ ({ACTIVITIES})\n"
        f"| where tostring(TargetResources) has_any ({terms}) or tostring(AdditionalDetails) has_any ({terms})\n"
        f"{PROJECT}"
        "| order by ActivityDateTime asc"
    )
    assert default_alert_query("") == default_alert_query(None)
