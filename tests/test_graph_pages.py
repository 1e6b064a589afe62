"""The typed lane for Graph audit pages (shared/detect/normalize/graph_pages.py) never changes an answer.

For any bytes, the lane either declines or gives exactly what the generic path
(``extract(parse_json(...))``) gives: the same records field for field, the same skip notes, the
same classification under every catalogue, the same error. Checked on the fixtures, on pages shaped
like a real tenant's log, on hostile edits (duplicate keys at every level, escapes, other casing,
wrong types) and on thousands of random byte edits and tricky spellings of the Webex app's id and
name.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.core.catalogue import INTEGRATION_APP_ID, Catalogue
from shared.core.errors import PayloadError
from shared.core.models import AuditRecord, Extraction, Kind
from shared.detect.classify import RULE_ACTIVITIES, activity_key, classify
from shared.detect.normalize import MAX_RECORDS, extract, extract_json, extract_page
from shared.detect.normalize.deferred import DeferredRecord
from shared.detect.normalize.graph_pages import graph_page
from shared.detect.payload import RepeatedKeys, parse_json

LIMIT = 10 * 1024 * 1024
FIXTURES = Path(__file__).parent / "fixtures" / "payloads"
REFERENCE = Path(__file__).parent / "fixtures" / "reference"  # published examples, sources in SOURCES.md
IDENTITY_ID = "3b5c7d9e-0f1a-4b2c-8d3e-4f5a6b7c8d9e"
CATALOGUES = (Catalogue(), Catalogue(identity_app_id=IDENTITY_ID))
CONTEXT = "https://graph.microsoft.com/v1.0/$metadata#auditLogs/directoryAudits"

Outcome = Extraction | PayloadError | None


MODES: tuple[RepeatedKeys, ...] = ("refuse", "last")


def _generic(raw: bytes, mode: RepeatedKeys = "refuse") -> Extraction | PayloadError:
    try:
        return extract(parse_json(raw, limit=LIMIT, repeated_keys=mode))
    except PayloadError as exc:
        return exc


def _lane(raw: bytes, mode: RepeatedKeys = "refuse") -> Outcome:
    try:
        got = graph_page(raw, repeated_keys=mode)
    except PayloadError as exc:
        return exc
    return None if got is None else got[0]


def agree(raw: bytes, mode: RepeatedKeys = "refuse") -> Outcome:
    """Run both paths on ``raw`` and fail unless the lane declined or matched; the lane's answer."""
    fast, slow = _lane(raw, mode), _generic(raw, mode)
    if fast is None:
        return None
    if isinstance(fast, PayloadError):
        assert isinstance(slow, PayloadError), (fast, slow)
        assert (str(fast), fast.status) == (str(slow), slow.status)
        return fast
    assert not isinstance(slow, PayloadError), f"lane took what the generic path refuses: {slow}"
    for catalogue in CATALOGUES:  # classified first: the lane's records answer from their kept text
        assert [classify(r, catalogue) for r in fast.records] == [classify(r, catalogue) for r in slow.records]
    assert fast.records == slow.records
    assert fast.skipped == slow.skipped
    assert fast.alerts == slow.alerts == []
    return fast


def record(
    n: int,
    activity: str = "Update service principal",
    *,
    name: str = "Contoso HR",
    target_app_id: str | None = None,
    detail_app_id: str | None = None,
    principal_value: str | None = None,
    spn_value: str | None = None,
    target_type: str = "ServicePrincipal",
    enabled: tuple[str | None, str | None] = ("[true]", "[false]"),
    ascii_values: bool = True,
) -> dict[str, Any]:
    """A ``directoryAudit`` as Graph returns it, with the app's id wherever Entra may put it."""
    corr = str(uuid.UUID(int=n + 1))
    properties = [
        {"displayName": "AccountEnabled", "oldValue": enabled[0], "newValue": enabled[1]},
        {"displayName": "DisplayName", "oldValue": None, "newValue": json.dumps([name], ensure_ascii=ascii_values)},
        {"displayName": "Included Updated Properties", "oldValue": None, "newValue": '"AccountEnabled, DisplayName"'},
    ]
    if principal_value is not None:
        properties.append({"displayName": "AppPrincipalId", "oldValue": "[]", "newValue": principal_value})
    if spn_value is not None:
        properties.append({"displayName": "TargetId.ServicePrincipalNames", "oldValue": None, "newValue": spn_value})
    target: dict[str, Any] = {
        "id": str(uuid.UUID(int=n + 7)),
        "displayName": name,
        "type": target_type,
        "userPrincipalName": None,
        "groupType": None,
        "modifiedProperties": properties,
    }
    if target_app_id is not None:
        target["appId"] = target_app_id
    details = [{"key": "User-Agent", "value": "Mozilla/5.0 (Windows NT 10.0; Win64; x64)"}]
    if detail_app_id is not None:
        details.append({"key": "AppId", "value": detail_app_id})
    return {
        "id": f"Directory_{corr}_7ZH3P_{n}",
        "category": "ApplicationManagement",
        "correlationId": corr,
        "result": "success",
        "resultReason": "",
        "activityDisplayName": activity,
        "activityDateTime": f"2024-05-01T10:{n % 60:02d}:12.{n % 10**7:07d}+00:00",
        "loggedByService": "Core Directory",
        "operationType": "Update",
        "initiatedBy": {
            "user": {
                "id": str(uuid.UUID(int=n + 3)),
                "displayName": None,
                "userPrincipalName": "admin@contoso.onmicrosoft.com",
                "ipAddress": "203.0.113.7",
            },
            "app": None,
        },
        "targetResources": [target],
        "additionalDetails": details,
    }


def page(*records: dict[str, Any], ascii_page: bool = True, **extra: Any) -> bytes:
    body = {"@odata.context": CONTEXT, "value": list(records), **extra}
    return json.dumps(body, ensure_ascii=ascii_page).encode()


def tenant_page() -> bytes:
    """A page like a tenant's log: mostly activities no rule reads, service-principal changes to
    other apps, and one each of the Webex deletions, disables and consent revocations."""
    activities = ["Update user", "Add member to group", "Update service principal", "Consent to application",
                  "Remove delegated permission grant", "Delete service principal", "Add service principal"]  # fmt: skip
    records = [record(n, activities[n % len(activities)]) for n in range(60)]
    records += [
        record(100, "Delete service principal", name="Cisco Webex Identity", detail_app_id=INTEGRATION_APP_ID),
        record(101, principal_value=json.dumps([INTEGRATION_APP_ID])),
        record(102, "Remove delegated permission grant", target_app_id=INTEGRATION_APP_ID.upper()),
        record(103, "Hard delete service principal", name="Cisco Webex Identity"),
        record(104, spn_value=json.dumps([IDENTITY_ID, "https://identity.webex.com"])),
        record(105, "Update service principal", enabled=("[false]", "[true]"), detail_app_id=INTEGRATION_APP_ID),
    ]
    return page(
        *records, **{"@odata.nextLink": "https://graph.microsoft.com/v1.0/auditLogs/directoryAudits?$skiptoken=x"}
    )


def test_a_tenant_page_is_taken_by_the_lane_and_matches_record_for_record() -> None:
    raw = tenant_page()
    got = agree(raw)
    assert isinstance(got, Extraction) and len(got.records) == 66
    # Everything the lane could defer was deferred (the point of the lane), and it still found
    # every Webex change the generic path finds.
    assert all(isinstance(r, DeferredRecord) for r in got.records)
    kinds = [classify(r, Catalogue()).kind for r in got.records[60:]]
    assert kinds == [Kind.INTEGRATION_DELETED, Kind.INTEGRATION_DISABLED, Kind.CONSENT_REVOKED,
                     Kind.IDENTITY_APP_DELETED, Kind.UNRELATED, Kind.INTEGRATION_RESTORED]  # fmt: skip
    assert classify(got.records[64], CATALOGUES[1]).kind is Kind.INTEGRATION_DISABLED


def test_records_a_rule_reads_keep_their_text_only_when_it_can_vouch() -> None:
    plain = record(1, name="Contoso HR")
    accented = record(2, name="Café HR", ascii_values=False)
    escaped = record(3, principal_value='["\\u0039\\u0030db942a-c1eb-4e8d-82e4-eebf64a7e2ae"]')
    got = agree(page(plain, accented, escaped, ascii_page=False))
    assert isinstance(got, Extraction)
    first, second, third = got.records
    assert isinstance(first, DeferredRecord) and not first.may_mention(Catalogue().needles)
    assert type(second) is AuditRecord and type(third) is AuditRecord  # normalized now, not guessed
    # The escaped id is the integration's: the generic reader decodes it, and so the record counts.
    assert classify(third, Catalogue()).kind is Kind.INTEGRATION_DISABLED


@pytest.mark.parametrize(
    "path",
    sorted(FIXTURES.glob("*.json")) + sorted(REFERENCE.glob("graph_directoryAudits_*.json")),
    ids=lambda p: p.name,
)
@pytest.mark.parametrize("mode", MODES)
def test_every_fixture_agrees(path: Path, mode: RepeatedKeys) -> None:
    raw = path.read_bytes()
    got = agree(raw, mode)
    if path.name == "graph_page_deletions.json":
        assert got is not None, "the documented camelCase page is the lane's to take"
    if path.name.startswith("graph_directoryAudits_list_example1"):
        assert isinstance(got, Extraction)  # the docs' example spells "Type"; the lane knows it
        assert got.records[0].targets[0].type == "Group"


def _with_duplicate(where: str) -> bytes:
    text = page(record(1), record(2)).decode()
    if where == "masked by an escaped colon":  # one colon more in the text, one more in the values
        text = text.replace('"resultReason": ""', '"resultReason": "a\\u003Ab"', 1)
        where = "record"
    if where == "page":
        return text.replace('"value":', '"@odata.context": "x", "value":', 1).encode()
    needle = {"record": '"category":', "initiator": '"userPrincipalName":', "target": '"groupType":',
              "property": '"oldValue":', "detail": '"key":'}[where]  # fmt: skip
    at = text.rindex(needle)
    return (text[:at] + needle + ' "dup", ' + text[at:]).encode()


@pytest.mark.parametrize(
    "where", ["page", "record", "initiator", "target", "property", "detail", "masked by an escaped colon"]
)
def test_a_repeated_key_at_any_level_is_declined_and_refused(where: str) -> None:
    raw = _with_duplicate(where)
    assert _lane(raw) is None
    with pytest.raises(PayloadError, match="duplicate key"):
        extract_json(raw, limit=LIMIT)
    # A page Graph sent us keeps the last value of a repeated key, on both paths alike.
    assert isinstance(agree(raw, "last"), Extraction)
    assert len(extract_page(raw, limit=LIMIT, repeated_keys="last")[0].records) == 2


@pytest.mark.parametrize(
    "edit",
    [
        ('"category":', '"Category":'),  # another casing
        ('"groupType":', '"grouptype":'),
        ('"category":', '"newField": "x", "category":'),  # an undocumented field
        ('"resultReason": ""', '"resultReason": 5'),  # a number where Graph writes text
        ('"resultReason": ""', '"resultReason": NaN'),
        ('"resultReason": ""', '"resultReason": "a\\u003ab"'),  # a colon spelled as an escape
        ('"resultReason": ""', '"resultReason": "\\ud800"'),  # a lone surrogate
        ('"resultReason": ""', '"resultReason": {"a": [[[[]]]]}'),  # nesting where text belongs
        ('"value":', '"@odata.count": 2, "value":'),
    ],
)
@pytest.mark.parametrize("mode", MODES)
def test_anything_outside_the_documented_page_is_declined(edit: tuple[str, str], mode: RepeatedKeys) -> None:
    raw = page(record(1), record(2)).decode().replace(*edit, 1).encode()
    if "u003a" not in edit[1] or mode == "refuse":  # an escaped colon is plain text once keys may repeat
        assert _lane(raw, mode) is None
    agree(raw, mode)


_ODD_FIELDS = [
    ("activityDisplayName", "Update service principal" + " " * 2000),  # over the cap, same after strip
    ("activityDisplayName", "Update user" + "x" * 2000),  # over the cap, truncated
    ("activityDisplayName", "   "),
    ("activityDisplayName", None),
    ("id", "x" * 2000),
    ("id", ""),
    ("id", None),  # an id derived from correlationId + time
    ("targetResources", None),
]


@pytest.mark.parametrize(("field", "value"), _ODD_FIELDS)
def test_odd_ids_and_activities_are_read_as_the_generic_path_reads_them(field: str, value: Any) -> None:
    odd = record(1)
    odd[field] = value
    got = agree(page(odd, record(2)))
    assert isinstance(got, Extraction)


def test_both_spellings_of_a_target_type_read_as_the_generic_path_reads_them() -> None:
    raw = page(record(1)).decode().replace('"type": "ServicePrincipal"', '"Type": "User", "type": "ServicePrincipal"')
    got = agree(raw.encode())
    assert isinstance(got, Extraction) and got.records[0].targets[0].type == "ServicePrincipal"


@pytest.mark.parametrize("bad", [b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82"], ids=repr)
@pytest.mark.parametrize("where", [b'"resultReason": "', b'"result'])  # inside a value, inside a key
@pytest.mark.parametrize("mode", MODES)
def test_invalid_utf8_anywhere_is_declined_and_refused(bad: bytes, where: bytes, mode: RepeatedKeys) -> None:
    raw = page(record(1)).replace(where, where + bad, 1)
    assert _lane(raw, mode) is None
    with pytest.raises(PayloadError, match="invalid UTF-8"):
        extract_page(raw, limit=LIMIT, repeated_keys=mode)


def test_too_many_records_is_the_same_413() -> None:
    raw = b'{"value": [' + b",".join([b"{}"] * (MAX_RECORDS + 1)) + b"]}"
    got = agree(raw)
    assert isinstance(got, PayloadError) and got.status == 413


def test_extract_json_uses_the_lane_only_for_pages_and_keeps_the_size_limit() -> None:
    raw = tenant_page()
    assert all(isinstance(r, DeferredRecord) for r in extract_json(raw, limit=LIMIT).records)
    alert = (FIXTURES / "alert_legacy_with_rows.json").read_bytes()
    assert extract_json(alert, limit=LIMIT) == extract(parse_json(alert, limit=LIMIT))
    with pytest.raises(PayloadError) as caught:
        extract_json(raw, limit=len(raw) - 1)
    assert caught.value.status == 413
    assert extract_json(raw.decode(), limit=LIMIT).records == extract_json(raw, limit=LIMIT).records


def test_extract_page_gives_the_next_link_on_both_paths() -> None:
    link = "https://graph.microsoft.com/v1.0/auditLogs/directoryAudits?$skiptoken=x"
    fast = page(record(1), **{"@odata.nextLink": link})
    slow = fast.replace(b'"category"', b'"Category"')  # declined by the lane
    assert _lane(fast) is not None and _lane(slow) is None
    for raw in (fast, slow):
        extraction, next_link = extract_page(raw, limit=LIMIT, repeated_keys="last")
        assert (len(extraction.records), next_link) == (1, link)
    assert extract_page(page(record(1)), limit=LIMIT, repeated_keys="last")[1] is None
    assert extract_page(b'{"value": [], "@odata.nextLink": 5}', limit=LIMIT, repeated_keys="refuse")[1] is None


# Spellings of the Webex apps' ids and names that a text search could get wrong: other cases,
# padding, escapes inside JSON-encoded values, characters that case-fold to ASCII ("ſ" → "s").
_INTEGRATION_INNER_ESCAPED = json.dumps(["\\u0039" + INTEGRATION_APP_ID[1:]])[:-2] + '"]'
_IDS = st.sampled_from([
    INTEGRATION_APP_ID, INTEGRATION_APP_ID.upper(), f" {INTEGRATION_APP_ID} ", IDENTITY_ID, IDENTITY_ID.upper(),
    "00000000-0000-0000-0000-000000000000", "90db942a", "not a guid",
])  # fmt: skip
_VALUES = st.one_of(
    _IDS.map(lambda i: json.dumps([i])),
    _IDS.map(lambda i: json.dumps([i, "https://x"])),
    st.just('["\\u0039' + INTEGRATION_APP_ID[1:] + '"]'),
    st.just(_INTEGRATION_INNER_ESCAPED),
    st.text(max_size=40),
)
_TRICKY_NAMES = [
    "Cisco Webex Identity", "CISCO WEBEX IDENTITY", "  Cisco Webex Identity ", "Ciſco Webex Identity",
    "Cisco Webex Identity Integration", "Cisco Webex Identity ", "Cisco\u00a0Webex Identity", "Contoso",
]  # fmt: skip
_NAMES = st.one_of(st.sampled_from(_TRICKY_NAMES), st.text(max_size=30))
_ACTIVITIES = st.sampled_from([
    "Update service principal", "Delete service principal", "Remove service principal", "Consent to application",
    "Remove delegated permission grant", "Hard delete service principal", "Update user", "UPDATE  Service principal",
])  # fmt: skip


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    activity=_ACTIVITIES,
    fields=st.fixed_dictionaries(
        {
            "name": _NAMES,
            "target_app_id": st.none() | _IDS,
            "detail_app_id": st.none() | _IDS,
            "principal_value": st.none() | _VALUES,
            "spn_value": st.none() | _VALUES,
            "target_type": st.sampled_from(["ServicePrincipal", "Application", "User"]),
            "ascii_values": st.booleans(),
        }
    ),
    ascii_page=st.booleans(),
    mode=st.sampled_from(MODES),
)
def test_tricky_spellings_of_the_apps_classify_the_same_on_both_paths(
    activity: str, fields: dict[str, Any], ascii_page: bool, mode: RepeatedKeys
) -> None:
    got = agree(page(record(5, activity, **fields), ascii_page=ascii_page), mode)
    if activity_key(activity) in RULE_ACTIVITIES:
        assert got is not None  # plain str fields: the lane takes every such page


_SNIPPETS = [b'"id": "x", ', b'"Type": "User", ', b"\\u003a", b"NaN", b"1e999", b'"\\ud800"', b"{", b"]", b",",
             b"\x00", b"\xff", b'"', b"\\", b"[[[[[[", b"null", b"\xc3\xa9", b"\\\\"]  # fmt: skip


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_edits_of_a_page_never_make_the_paths_disagree(data: st.DataObject) -> None:
    raw = bytearray(page(record(1), record(2, "Delete service principal", detail_app_id=INTEGRATION_APP_ID)))
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(raw)))
        action = data.draw(st.sampled_from(["insert", "delete", "replace"]))
        if action == "insert":
            raw[at:at] = data.draw(st.sampled_from(_SNIPPETS) | st.binary(max_size=4))
        elif action == "delete":
            del raw[at : at + data.draw(st.integers(1, 8))]
        elif at < len(raw):
            raw[at] = data.draw(st.integers(0, 255))
    agree(bytes(raw), data.draw(st.sampled_from(MODES)))


def test_the_audit_poll_reads_graph_pages_through_the_lane_and_garbage_is_transient() -> None:
    from shared.core.errors import TransientError
    from shared.detect.audit_poll import read_audit_page as _audit_page

    link = "https://graph.microsoft.com/v1.0/auditLogs/directoryAudits?$skiptoken=y"
    got = _audit_page(tenant_page().replace(b"$skiptoken=x", b"$skiptoken=y"))
    assert got.next_link == link and len(got.extraction.records) == 66
    assert all(isinstance(r, DeferredRecord) for r in got.extraction.records)
    repeated = _audit_page(_with_duplicate("record"))  # Graph's answer: the last value counts
    assert [r.category for r in repeated.extraction.records] == ["ApplicationManagement"] * 2
    for garbage in (b'{"value": [', b"<html>", b'{"value": [], "a": NaN}'):
        with pytest.raises(TransientError, match="unreadable audit page"):
            _audit_page(garbage)
