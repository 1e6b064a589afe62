"""The 2019 diagnostic-settings record (flattened ``__``-joined fields) through ``extract``, field by
field (shared/detect/normalize/audit.py ``legacy_record_from``). Expected values are literals."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared.core.models import AuditRecord, Initiator, ModifiedProperty, Source, TargetResource
from shared.detect.normalize import extract

TENANT = "3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
APP = "90DB942A-C1EB-4E8D-82E4-EEBF64A7E2AE"
WHEN = datetime(2019, 3, 22, 13, 36, 31, 123456, tzinfo=UTC)
DERIVED = "derived_4d0700d3d1df34b0f16ff0c4a685c853"
LEGACY: dict[str, Any] = {
    "time": "2019-03-22T13:36:31.1234567Z",
    "operationName": " Delete service principal ",
    "category": "Audit",
    "resultType": "Success",
    "correlationId": "c-1",
    "identity": "admin@contoso.com",
    "tenantId": TENANT,
    "properties": {
        "identityType": "UPN",
        "auditEventCategory": "ApplicationManagement",
        "targetResourceType": "objectId__objectClass__displayName__appId__tenantContextId",
        "targetResourceName": f"sp-1__ServicePrincipal__Cisco Webex__{APP}__{TENANT}",
        "targetUpdatedProperties": '[{"Name":"AccountEnabled","OldValue":"[true]","NewValue":"[false]"}]',
        "additionalDetails": [{"key": "k", "value": "v"}],
    },
}


def read(*records: dict[str, Any]) -> tuple[list[AuditRecord], list[str]]:
    out = extract({"records": list(records)})
    return out.records, out.skipped


def test_a_legacy_record_field_by_field() -> None:
    assert read(LEGACY) == (
        [
            AuditRecord(
                record_id=DERIVED,
                activity="Delete service principal",
                source=Source.DIAGNOSTIC,
                tenant_id=TENANT,
                event_time=WHEN,
                ingested_time=WHEN,
                result="success",
                category="ApplicationManagement",
                correlation_id="c-1",
                initiator=Initiator("user", user_principal_name="admin@contoso.com"),
                targets=(
                    TargetResource(
                        "sp-1",
                        "Cisco Webex",
                        "ServicePrincipal",
                        APP.lower(),
                        (ModifiedProperty("AccountEnabled", [True], [False]),),
                    ),
                ),
                additional_details=(("k", "v"),),
            )
        ],
        [],
    )


def test_an_app_initiator_its_own_id_and_an_app_id_from_the_properties() -> None:
    props = dict(
        LEGACY["properties"],
        identityType="ServicePrincipal",
        id="L1",
        targetResourceType="upn",
        targetResourceName="bob@x.com",
        targetUpdatedProperties='[{"Name":"AppId","NewValue":"[\\"' + APP + '\\"]"}]',
    )
    (record,), _ = read(dict(LEGACY, identity="Tool", properties=props))
    assert (record.record_id, record.initiator) == ("L1", Initiator("app", display_name="Tool"))
    assert record.targets == (
        TargetResource(None, "bob@x.com", None, APP.lower(), (ModifiedProperty("AppId", None, [APP]),)),
    )


def test_names_and_types_that_do_not_pair_keep_the_whole_name() -> None:
    props = {
        "targetResourceType": "a__b",
        "targetResourceName": "only-one",
        "targetUpdatedProperties": '[{"Name":"AppPrincipalId","NewValue":"' + APP + '"}]',
    }
    (record,), _ = read(dict(LEGACY, identity=None, properties=props))
    assert record.initiator == Initiator()
    assert record.category == "Audit"
    assert record.targets == (
        TargetResource(None, "only-one", None, APP.lower(), (ModifiedProperty("AppPrincipalId", None, APP),)),
    )


def test_what_a_legacy_record_cannot_do_without() -> None:
    no_id = {"operationName": "x", "properties": {}, "category": "Audit"}
    no_name = {"operationName": "  ", "properties": {"a": 1}}
    assert read(no_id, no_name) == (
        [],
        [
            "records 0: legacy record 'x' has no id and no correlationId+time",
            "records 1: legacy record has no operationName",
        ],
    )
