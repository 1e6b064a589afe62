"""shared/detect/normalize/audit.py, fast: how many targets, properties and details one record keeps
(the caps at their exact limits) and what each reader makes of odd input. Expected values are literals."""

from __future__ import annotations

from typing import Any

import pytest

from shared.core.models import Initiator, ModifiedProperty, TargetResource
from shared.detect.normalize.audit import details_from, initiator_from, properties_from, targets_from

APP = "90db942a-c1eb-4e8d-82e4-eebf64a7e2ae"


def target(n: int) -> dict[str, Any]:
    return {"id": f"t{n}", "displayName": f"app {n}", "type": "ServicePrincipal"}


@pytest.mark.parametrize(("given", "kept"), [(50, 50), (51, 50)])
def test_a_record_keeps_its_first_50_targets(given: int, kept: int) -> None:
    read = targets_from([target(n) for n in range(given)], None)
    assert [t.id for t in read] == [f"t{n}" for n in range(kept)]
    assert read[49] == TargetResource("t49", "app 49", "ServicePrincipal", None, ())


@pytest.mark.parametrize(("given", "kept"), [(200, 200), (201, 200)])
def test_a_target_keeps_its_first_200_modified_properties(given: int, kept: int) -> None:
    props = [{"displayName": f"p{n}", "oldValue": "[]", "newValue": f'["{n}"]'} for n in range(given)]
    read = properties_from(props)
    assert len(read) == kept
    assert read[199] == ModifiedProperty("p199", [], ["199"])


@pytest.mark.parametrize(("given", "kept"), [(100, 100), (101, 100)])
def test_a_record_keeps_its_first_100_additional_details(given: int, kept: int) -> None:
    details = [{"key": f"k{n}", "value": f"v{n}"} for n in range(given)]
    read = details_from(details)
    assert len(read) == kept
    assert read[99] == ("k99", "v99")


def test_additional_details_as_json_text_and_their_odd_items() -> None:
    text = '[{"Key": "AppId", "Value": "X"}, {"key": "n", "value": 5}, {"key": "x"}, 7, {"key": null, "value": "v"}]'
    assert details_from(text) == (("AppId", "X"), ("n", "5"))
    assert details_from("not json") == ()
    assert details_from(None) == ()


def test_the_app_id_of_a_service_principal_target_comes_from_the_details_but_not_a_users() -> None:
    targets = [{"id": "sp", "type": "ServicePrincipal"}, {"id": "u", "type": "User"}, {"id": "x"}]
    assert [t.app_id for t in targets_from(targets, APP)] == [APP, None, APP]
    own = [{"id": "sp", "type": "Application", "appId": "own"}]
    assert targets_from(own, APP)[0].app_id == "own"


def test_the_app_id_of_a_target_comes_from_its_properties_in_trusted_order() -> None:
    other = "11111111-2222-4333-8444-555555555555"
    props = [
        {"displayName": "TargetId.ServicePrincipalNames", "newValue": f'["{other}"]'},
        {"displayName": "AppId", "oldValue": f'["{APP.upper()}"]', "newValue": "[]"},
    ]
    (read,) = targets_from([{"id": "sp", "type": "ServicePrincipal", "modifiedProperties": props}], None)
    assert read.app_id == APP
    (read,) = targets_from([{"id": "sp", "modifiedProperties": props[:1]}], None)
    assert read.app_id == other


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"user": {"userPrincipalName": "a@b.c", "id": "u1", "ipAddress": "10.0.0.1"}}, ("user", "u1", None, "a@b.c")),
        ({"user": {"id": None, "displayName": None}, "app": {"displayName": "Tool"}}, ("app", None, "Tool", None)),
        ({"app": {"servicePrincipalId": "sp-9"}}, ("app", "sp-9", None, None)),
        ({"user": None, "app": None}, ("unknown", None, None, None)),
        ('{"app": {"appId": "a-1", "displayName": "Tool"}}', ("app", "a-1", "Tool", None)),
        ("[]", ("unknown", None, None, None)),
        (None, ("unknown", None, None, None)),
    ],
)
def test_who_did_it(value: Any, expected: tuple[str, str | None, str | None, str | None]) -> None:
    who = initiator_from(value)
    assert (who.kind, who.id, who.display_name, who.user_principal_name) == expected
    if value is None:
        assert who == Initiator()
