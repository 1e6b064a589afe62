"""The typed reader of Graph's collection answers (shared/clients/graph_objects.py): documented shapes in,
the fields the checks use out; malformed, truncated, oversized and hostile answers are ValueError
(which the Graph client maps to a transient error), never a crash or a half-read list."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.clients.graph import map_graph_error
from shared.clients.graph_objects import (
    MAX_ANSWER_BYTES,
    Assignments,
    Grants,
    Owners,
    ServicePrincipals,
    deleted_at,
    guid_or_text,
    read_collection,
)
from shared.core.errors import TransientError

SP_ANSWER = {
    "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#servicePrincipals(id,appId,displayName)",
    "value": [
        {
            "id": "4476AB62-4278-4523-A83F-6270A2C48AB9",
            "appId": "90db942a-c1eb-4e8d-82e4-eebf64a7e2ae",
            "displayName": "Cisco Webex Identity Integration",
            "accountEnabled": True,
            "notes": None,
            "servicePrincipalNames": ["90db942a-c1eb-4e8d-82e4-eebf64a7e2ae"],
            "deletedDateTime": "2026-11-29T06:00:00.1234567+00:00",
        }
    ],
}


def raw(obj: object) -> bytes:
    return json.dumps(obj).encode()


def test_service_principals_keep_the_fields_used() -> None:
    (sp,) = read_collection(raw(SP_ANSWER), ServicePrincipals).value
    assert (sp.id, sp.app_id, sp.display_name, sp.account_enabled, sp.notes) == (
        "4476AB62-4278-4523-A83F-6270A2C48AB9",
        "90db942a-c1eb-4e8d-82e4-eebf64a7e2ae",
        "Cisco Webex Identity Integration",
        True,
        None,
    )
    assert guid_or_text(sp.id) == "4476ab62-4278-4523-a83f-6270a2c48ab9", "GUIDs lower-cased, as kiota's UUIDs"
    assert deleted_at(sp.deleted_date_time) == datetime(2026, 11, 29, 6, 0, 0, 123456, tzinfo=UTC)


def test_grants_and_assignments() -> None:
    grants = read_collection(
        raw({"value": [{"id": "xG9K-not-a-guid", "clientId": "c", "consentType": "AllPrincipals",
                        "principalId": None, "resourceId": "A1B2C3D4-0000-4000-8000-000000000001",
                        "scope": " User.Read Directory.Read.All "}]}),
        Grants,
    ).value  # fmt: skip
    assert (grants[0].id, grants[0].consent_type, grants[0].scope) == (
        "xG9K-not-a-guid",
        "AllPrincipals",
        " User.Read Directory.Read.All ",
    )
    assert guid_or_text(grants[0].id) == "xG9K-not-a-guid", "ids that are not GUIDs are kept as sent"
    (a,) = read_collection(
        raw({"value": [{"id": "Uu-1", "appRoleId": "df021288-bdef-4463-88db-98f22de89214", "resourceId": None,
                        "resourceDisplayName": "Microsoft Graph", "principalType": "ServicePrincipal"}]}),
        Assignments,
    ).value  # fmt: skip
    assert (a.app_role_id, a.resource_id, a.resource_display_name) == (
        "df021288-bdef-4463-88db-98f22de89214",
        None,
        "Microsoft Graph",
    )


def test_app_owner_organization_and_owners_are_read() -> None:
    """What pins the Identity app (shared/checks/identity_app.py): the owning tenant, and which owners are
    service principals (``appId``) rather than users, as ``GET /servicePrincipals/{id}/owners`` lists
    them (``directoryObject`` items, ``@odata.type`` beside)."""
    sp = read_collection(
        json.dumps({"value": [{"id": "x", "appId": "y", "appOwnerOrganizationId": "AbC-1"}]}).encode(),
        ServicePrincipals,
    ).value[0]
    assert sp.app_owner_organization_id == "AbC-1"
    owners = {
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#directoryObjects",
        "value": [
            {
                "@odata.type": "#microsoft.graph.servicePrincipal",
                "id": "s1",
                "appId": "90DB942A-c1eb-4e8d-82e4-eebf64a7e2ae",
            },
            {"@odata.type": "#microsoft.graph.user", "id": "u1", "userPrincipalName": "mallory@contoso.example"},
        ],
    }
    read = read_collection(json.dumps(owners).encode(), Owners).value
    assert [(o.id, o.app_id) for o in read] == [("s1", "90DB942A-c1eb-4e8d-82e4-eebf64a7e2ae"), ("u1", None)]
    with pytest.raises(ValueError):
        read_collection(b'{"value": [{"id": "s1", "appId": 7}]}', Owners)
    with pytest.raises(ValueError):
        read_collection(b'{"value": [{"id": "s1", "appId": "a"', Owners)


@pytest.mark.parametrize("body", [b"{}", b'{"value": []}', b'{"@odata.nextLink": "x", "value": []}'])
def test_empty_answers(body: bytes) -> None:
    assert read_collection(body, ServicePrincipals).value == []


@pytest.mark.parametrize(
    "body",
    [
        b"",  # empty
        b'{"value": [{"id": "1"',  # truncated
        b"[]",  # not an object
        b'"text"',
        b'{"value": {"id": "1"}}',  # value not a list
        b'{"value": ["1"]}',  # item not an object
        b'{"value": [{"id": 1}]}',  # wrong type
        b'{"value": [{"accountEnabled": "yes"}]}',
        b'{"value": [{"displayName": "\xff\xfe"}]}',  # bad UTF-8
        b'{"value": [{"id": "1"}]} trailing',
        b'{"value": [{"id": NaN}]}',
        b"\x00\x01\x02",
    ],
)
def test_unreadable_answers_are_value_errors_and_transient(body: bytes) -> None:
    with pytest.raises(ValueError) as caught:
        read_collection(body, ServicePrincipals)
    assert isinstance(map_graph_error(caught.value), TransientError)


def test_oversized_answer_is_refused_before_decoding() -> None:
    body = b'{"value": [' + b'{"id": "1"},' * (MAX_ANSWER_BYTES // 12) + b'{"id": "2"}]}'
    assert len(body) > MAX_ANSWER_BYTES
    with pytest.raises(ValueError, match="over"):
        read_collection(body, ServicePrincipals)


def test_hostile_nesting_and_unknown_fields() -> None:
    deep = "[" * 10_000 + "]" * 10_000
    with pytest.raises(ValueError):
        read_collection(f'{{"value": {deep}}}'.encode(), ServicePrincipals)
    extra = raw({"value": [{"id": "1", "appId": "2", "__proto__": {"x": 1}, "appRoles": [[[[{}]]]]}]})
    (sp,) = read_collection(extra, ServicePrincipals).value
    assert (sp.id, sp.app_id) == ("1", "2")


NOT_GUIDS = [None, "", "not-a-guid", "4476ab62-4278-4523-a83f-6270a2c48ab", "x" * 36, "{" * 36]


@pytest.mark.parametrize("value", [*NOT_GUIDS, "----4476ab6242784523a83f6270a2c48ab9"])
def test_guid_or_text_keeps_what_is_not_a_guid(value: str | None) -> None:
    assert guid_or_text(value) == value


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=512))
def test_any_bytes_are_read_or_refused(body: bytes) -> None:
    for kind in (ServicePrincipals, Grants, Assignments):
        try:
            result = read_collection(body, kind)
        except ValueError:
            continue
        assert isinstance(result.value, list)
