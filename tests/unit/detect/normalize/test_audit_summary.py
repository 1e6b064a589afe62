"""shared/detect/normalize/audit.py, fast: the line summary ``classify FILE`` prints for a record no
rule reads (``record_from(...).line_summary()``: tenant, time, initiator, the first target's id and
app id), and where each part of it comes from. Expected values are literals."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from shared.core.models import Initiator, Source
from shared.detect.normalize._util import Context
from shared.detect.normalize.audit import PASCAL, record_from
from shared.detect.normalize.deferred import DeferredRecord, Summary

APP = "90db942a-c1eb-4e8d-82e4-eebf64a7e2ae"
OTHER = "11111111-2222-4333-8444-555555555555"
TENANT = "0b9a2f0c-7a7e-4c5a-9c7e-2f0f4f1f6a11"


def summary(targets: Any = None, details: Any = None, **fields: Any) -> Summary | None:
    obj: dict[str, Any] = {"id": "r1", "activityDisplayName": "Update user", **fields}
    if targets is not None:
        obj["targetResources"] = targets
    if details is not None:
        obj["additionalDetails"] = details
    record = record_from(obj, Source.GRAPH, Context(), "value 0")
    assert isinstance(record, DeferredRecord)
    return record.line_summary()


def app_id(targets: Any, details: Any = None) -> str | None:
    found = summary(targets, details)
    assert found is not None
    return found[4]


def test_the_summary_of_a_whole_record() -> None:
    found = summary(
        [{"id": "t1", "type": "User", "appId": "own-app"}, {"id": "t2", "appId": "second"}],
        [{"key": "AppId", "value": APP}],
        tenantId=TENANT,
        activityDateTime="2024-05-01T10:00:12.6840583+00:00",
        initiatedBy={"user": {"userPrincipalName": "a@b.c", "id": "u1", "ipAddress": "10.0.0.1"}},
    )
    when = datetime(2024, 5, 1, 10, 0, 12, 684058, tzinfo=UTC)
    assert found == (TENANT, when, Initiator("user", "u1", None, "a@b.c", "10.0.0.1"), "t1", "own-app")


def test_a_record_without_targets_or_anything_else() -> None:
    assert summary() == (None, None, Initiator(), None, None)
    assert summary([]) == (None, None, Initiator(), None, None)


def test_the_first_target_is_the_first_object_and_its_keys_are_found_in_any_casing() -> None:
    found = summary([7, "x", None, {"ID": "t3", "APPID": "Mixed"}, {"id": "t4", "appId": "no"}])
    assert found is not None
    assert found[3:] == ("t3", "Mixed")


def test_only_the_first_50_targets_are_looked_at() -> None:
    found = summary([*([None] * 50), {"id": "t51", "appId": APP}])
    assert found is not None
    assert found[3:] == (None, None)
    found = summary([*([None] * 49), {"id": "t50", "appId": APP}])
    assert found is not None
    assert found[3:] == ("t50", APP)


def test_the_pascal_spelling_reads_the_log_analytics_columns() -> None:
    obj = {
        "Id": "r1",
        "ActivityDisplayName": "Update user",
        "AADTenantId": TENANT,
        "TenantId": "workspace",
        "ActivityDateTime": "2024-05-01T10:00:12Z",
        "TargetResources": [{"id": "t1", "appId": "a1"}],
    }
    record = record_from(obj, Source.LOG_ANALYTICS, Context(), "row 0", spelling=PASCAL)
    assert isinstance(record, DeferredRecord)
    when = datetime(2024, 5, 1, 10, 0, 12, tzinfo=UTC)
    assert record.line_summary() == (TENANT, when, Initiator(), "t1", "a1")


def test_the_envelope_tenant_is_used_when_the_record_names_none() -> None:
    record = record_from(
        {"id": "r1", "activityDisplayName": "Update user"}, Source.GRAPH, Context(), "", tenant=TENANT.upper()
    )
    assert isinstance(record, DeferredRecord)
    found = record.line_summary()
    assert found is not None
    assert found[0] == TENANT


@pytest.mark.parametrize(
    ("ttype", "expected"),
    [("ServicePrincipal", APP), ("APPLICATION", APP), (None, APP), ("User", None), ("", None)],
)
def test_the_details_app_id_counts_only_for_app_targets(ttype: str | None, expected: str | None) -> None:
    target: dict[str, Any] = {"id": "t1"}
    if ttype is not None:
        target["type"] = ttype
    assert app_id([target], [{"key": "User-Agent", "value": "x"}, {"key": "APPID", "value": f" {APP.upper()} "}]) == (
        expected
    )


def test_a_blank_details_app_id_falls_through_to_the_properties() -> None:
    props = [{"displayName": "AppId", "newValue": f'["{OTHER}"]'}]
    target = {"id": "t1", "type": "ServicePrincipal", "modifiedProperties": props}
    assert app_id([target], [{"key": "AppId", "value": "  "}]) == OTHER
    assert app_id([target], [{"key": "AppId", "value": None}, {"key": "AppId", "value": APP}]) == APP


def test_an_empty_target_app_id_falls_through() -> None:
    assert app_id([{"id": "t1", "appId": ""}], [{"key": "AppId", "value": APP}]) == APP


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        # the trusted order decides, not the order written
        (
            [
                {"displayName": "TargetId.ServicePrincipalNames", "newValue": f'["{OTHER}"]'},
                {"displayName": "ServicePrincipal.AppId", "newValue": f'["{OTHER}"]'},
                {"displayName": "AppPrincipalId", "newValue": f'["{OTHER}"]'},
                {"displayName": "appid", "newValue": f'["{APP}"]'},
            ],
            APP,
        ),
        (
            [
                {"displayName": "TargetId.ServicePrincipalNames", "newValue": f'["{OTHER}"]'},
                {"displayName": "ServicePrincipal.AppId", "newValue": f'["{APP}"]'},
            ],
            APP,
        ),
        ([{"displayName": "TargetId.ServicePrincipalNames", "newValue": f'["{APP}","{OTHER}"]'}], APP),
        # the new value first, then the old one
        ([{"displayName": "AppId", "oldValue": f'["{OTHER}"]', "newValue": f'["{APP}"]'}], APP),
        ([{"displayName": "AppId", "oldValue": f'["{APP.upper()}"]', "newValue": "[]"}], APP),
        # a name without a GUID gives way to the next trusted name
        (
            [
                {"displayName": "AppId", "oldValue": "[]", "newValue": '["none"]'},
                {"displayName": "AppPrincipalId", "newValue": f'["{APP}"]'},
            ],
            APP,
        ),
        # the last property of a name wins
        (
            [{"displayName": "AppId", "newValue": f'["{OTHER}"]'}, {"displayName": "APPID", "newValue": f'["{APP}"]'}],
            APP,
        ),
        # keys in another casing, items that are not objects or have no text name
        ([7, {"displayName": 5, "newValue": f'["{OTHER}"]'}, {"DisplayName": "AppId", "NewValue": f'["{APP}"]'}], APP),
        ([{"displayName": "DisplayName", "newValue": f'["{APP}"]'}], None),
        ([], None),
    ],
)
def test_the_app_id_from_the_modified_properties(props: list[Any], expected: str | None) -> None:
    assert app_id([{"id": "t1", "type": "User", "modifiedProperties": props}]) == expected


def test_only_the_first_200_properties_are_read() -> None:
    filler = [{"displayName": f"p{n}", "newValue": "[]"} for n in range(199)]
    last = {"displayName": "AppId", "newValue": f'["{APP}"]'}
    assert app_id([{"id": "t1", "type": "User", "modifiedProperties": [*filler, last]}]) == APP
    assert app_id([{"id": "t1", "type": "User", "modifiedProperties": [*filler, None, last]}]) is None


def test_properties_that_are_not_a_list_give_no_app_id() -> None:
    props = f'[{{"displayName": "AppId", "newValue": "[\\"{APP}\\"]"}}]'
    assert app_id([{"id": "t1", "type": "User", "modifiedProperties": props}]) is None
    assert app_id([{"id": "t1", "type": "User", "modifiedProperties": None}]) is None


def test_a_long_name_that_starts_with_an_app_id_name_is_not_one() -> None:
    name = "AppId" + "x" * 1100
    props = [{"displayName": name, "newValue": APP}]
    assert app_id([{"id": "t1", "type": "User", "modifiedProperties": props}]) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (f'["{APP}"]', APP),
        (f'  ["{APP.upper()}"]', APP),
        (f'"[\\"{APP}\\"]"', APP),  # double-encoded
        (f'["\\u0039{APP[1:]}"]', APP),  # an escape: decoded first
        (f'[["x"], "{APP}"]', APP),
        (f'{{"a": "{APP}"}}', None),  # an object holds no GUID a list or text would
        (f'[{{"a": "{APP}"}}]', None),  # nor does an object inside the list
        (f'[["{APP}"]]', None),  # nor a nested list
        (f'["{APP[:9]}\\u0063{APP[10:]}"]', APP),  # an escape inside the GUID: decoded first
        (f'["{APP[:-1]}"]', None),
        (APP, APP),  # not JSON: the text itself
        ("[" + ",".join(['"x"'] * 200) + f',"{APP}"]', None),  # past the first 200 items
        ("[" + ",".join(['"x"'] * 199) + f',"{APP}"]', APP),
        (f'["{APP}"]' + " " * 8200, APP),  # over VALUE_CAP: kept undecoded, cut at 8192 characters
        ('["' + " " * 8200 + f'{APP}"]', None),  # the GUID beyond the cut
        (f'["{APP}"' + " " * 8200, APP),  # not JSON, over VALUE_CAP: the text's first 8192 characters
        ([APP], APP),  # already decoded
        (None, None),
    ],
)
def test_the_guid_of_a_property_value_written_every_way(value: Any, expected: str | None) -> None:
    props = [{"displayName": "AppId", "newValue": value}]
    assert app_id([{"id": "t1", "type": "User", "modifiedProperties": props}]) == expected


def test_the_summary_is_gone_once_the_record_is_filled() -> None:
    record = record_from({"id": "r1", "activityDisplayName": "Update user"}, Source.GRAPH, Context(), "")
    assert isinstance(record, DeferredRecord)
    assert record.targets == ()
    assert record.line_summary() is None
