"""shared/detect/normalize/export_lane.py: the typed line summary (first target's id and app id,
initiator, time) equals what ``audit._summary`` gives for the same record as plain JSON — the
streaming reader's form — on generated records, including Entra's ``["<guid>"]`` values written
every other way (escaped, upper-case, padded, double-encoded, ``\\u``-escaped)."""

from __future__ import annotations

import json
from typing import Any

import msgspec
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from shared.detect.normalize import export_lane
from shared.detect.normalize.audit import CAMEL, _guid_in, _summary

GUID = "6762b34f-4e26-4a8e-a032-35a1e58e1b1c"
_absent = st.just(msgspec.UNSET)
_names = st.sampled_from(
    ["AppId", "appid", "APPPRINCIPALID", "AppPrincipalId", "ServicePrincipal.AppId", "TargetId.ServicePrincipalNames",
     "AccountEnabled", "DisplayName", "AppI\u0064", "İappid", "x" * 1100]
)  # fmt: skip
_values = st.one_of(
    st.sampled_from(
        [f'["{GUID}"]', f'["{GUID.upper()}"]', f'[ "{GUID}" ]', f'["{GUID}","{GUID[::-1]}"]', f'"[\\"{GUID}\\"]"',
         f'["\\u0036{GUID[1:]}"]', f'["{GUID[:-1]}"]', f'["{GUID}x"]', f'["x{GUID}"]', f"[{GUID}]", f'{{"a":"{GUID}"}}',
         f'["{GUID[:8]}"]', "[]", "[true]", "", f"{GUID}", f'["{GUID}"', f'[["{GUID}"]]', f'["{GUID}"]' + " " * 9000]
    ),
    st.text(alphabet='[]{}"\\, abcdef0123456789-ABCDEFu', max_size=60),
    st.none(),
    _absent,
)  # fmt: skip
_text = st.one_of(st.sampled_from(["", " ", GUID, GUID.upper(), "x" * 1100]), st.text(max_size=12), st.none(), _absent)
_types = st.one_of(st.sampled_from(["ServicePrincipal", "application", "APPLICATION", "User", "Group", ""]), _text)


def _object(**fields: Any) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not msgspec.UNSET}


_props = st.lists(
    st.builds(_object, displayName=st.one_of(_names, _text), oldValue=_values, newValue=_values), max_size=6
)
_target = st.builds(
    _object, id=_text, displayName=_text, type=_types, Type=_types, appId=_text,
    modifiedProperties=st.one_of(_props, st.none(), _absent),
)  # fmt: skip
_details = st.one_of(
    st.lists(st.builds(_object, key=st.one_of(st.sampled_from(["AppId", "appid", "User-Agent"]), _text), value=_text)),
    st.none(),
    _absent,
)  # fmt: skip
_user = st.builds(_object, id=_text, displayName=_text, userPrincipalName=_text, ipAddress=_text)
_app = st.builds(_object, appId=_text, displayName=_text, servicePrincipalId=_text, servicePrincipalName=_text)
_initiated = st.one_of(
    st.builds(_object, user=st.one_of(_user, st.none(), _absent), app=st.one_of(_app, st.none(), _absent)),
    st.none(),
    _absent,
)
_times = st.one_of(
    st.sampled_from(["2024-05-01T10:00:12.6840583+00:00", "2024-05-01T10:00:12Z", "3/22/2019 1:36:31 PM"]), _text
)
_records = st.builds(
    _object, id=st.just("r1"), activityDisplayName=st.just("Update user"), activityDateTime=_times,
    initiatedBy=_initiated, targetResources=st.one_of(st.lists(_target, max_size=3), st.none(), _absent),
    additionalDetails=_details,
)  # fmt: skip


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(_records)
def test_the_typed_summary_is_the_plain_one(record: dict[str, Any]) -> None:
    typed = export_lane._RECORD.decode(json.dumps(record))
    plain = json.loads(json.dumps(record))
    assert export_lane._summarise(typed) == _summary(plain, CAMEL, None)
    assert export_lane._summarise(typed) == _summary(plain, CAMEL, None)  # the caches give the same again


@given(_values)
def test_guid_of_a_value_is_guid_in(value: Any) -> None:
    assume(value is not msgspec.UNSET)
    assert export_lane._guid(value) == _guid_in(value)


def test_entra_s_own_guid_array_takes_the_short_way() -> None:
    assert export_lane._guid(f'["{GUID.upper()}"]') == GUID
    assert export_lane._guid(f'["{GUID[:-1]}g"]') is None
    assert export_lane._guid(f'["{GUID[:-1]}"] ') == _guid_in(f'["{GUID[:-1]}"] ')


def test_the_name_cache_stays_bounded() -> None:
    for n in range(3000):
        assert export_lane._name_key(f"Property{n}") == ""
    assert export_lane._name_key("APPID") == "appid"
    assert 0 < len(export_lane._NAME_KEYS) <= 1024


def test_initiators_built_slot_by_slot_are_whole_initiators() -> None:
    """The lane sets an Initiator's five slots itself: a field added to the model must be set too."""
    import dataclasses

    from shared.core.models import Initiator

    assert [f.name for f in dataclasses.fields(Initiator)] == [
        "kind", "id", "display_name", "user_principal_name", "ip_address",
    ]  # fmt: skip
    user = export_lane._User(id="u1", displayName="Admin", userPrincipalName="admin@contoso.com", ipAddress="10.0.0.1")
    made = export_lane._initiator(export_lane._Initiator(user=user))
    expected = Initiator("user", "u1", "Admin", "admin@contoso.com", "10.0.0.1")
    assert (made, hash(made), repr(made), made.label) == (expected, hash(expected), repr(expected), "admin@contoso.com")
