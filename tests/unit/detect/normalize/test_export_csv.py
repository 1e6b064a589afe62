"""shared/detect/normalize/export_csv.py, fast: the Entra admin center's and Log Analytics' CSV
downloads read from small in-memory files — the portal's time format, each column's place in the
record, the notes for short rows and the errors naming their line, the caps at their limits.
Expected values are literals."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from shared.core.errors import PayloadError
from shared.core.models import AuditRecord, Extraction, Initiator, ModifiedProperty, Source, TargetResource
from shared.detect.normalize import export_csv
from shared.detect.normalize.export_csv import portal_row, portal_time, read_csv
from tests.unit.detect.normalize.merged import merged

APP = "90db942a-c1eb-4e8d-82e4-eebf64a7e2ae"


def read(data: bytes | str) -> Extraction:
    raw = data.encode() if isinstance(data, str) else data
    return merged(read_csv(io.BytesIO(raw)))


def refusal(data: bytes | str) -> str:
    with pytest.raises(PayloadError) as caught:
        read(data)
    return str(caught.value)


def only(data: str) -> AuditRecord:
    found = read(data)
    assert found.skipped == []
    (record,) = found.records
    return record


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("5/25/2023, 4:32:49.469 AM", "2023-05-25T04:32:49.469Z"),
        ("5/25/2023 4:32:49 PM", "2023-05-25T16:32:49.0Z"),
        ("12/1/2024, 12:00:00.1234567 am", "2024-12-01T00:00:00.1234567Z"),
        ("1/2/2024, 12:05:06 pm", "2024-01-02T12:05:06.0Z"),
        ("  1/2/2024, 11:05:06PM ", "2024-01-02T23:05:06.0Z"),
        ("1/2/2024, 11:05:06.12345678 PM", "1/2/2024, 11:05:06.12345678 PM"),
        ("2024-05-01T10:00:00Z", "2024-05-01T10:00:00Z"),
        ("", ""),
    ],
)
def test_the_portal_time_format(given: str, expected: str) -> None:
    assert portal_time(given) == expected


def test_portal_rows_rename_their_utc_columns() -> None:
    row = portal_row({"TimeGenerated [UTC]": "5/25/2023, 4:32:49 AM", "X [UTC]": 5, "Id": "r", "TimeGenerated": "kept"})
    assert row == {"TimeGenerated": "2023-05-25T04:32:49.0Z", "X": 5, "Id": "r"}


# --- the Entra admin center ----------------------------------------------------------------------

ENTRA_HEADER = (
    "Date (UTC),CorrelationId,Service,Category,Activity,Result,ResultReason,ActorType,ActorDisplayName,"
    "ActorObjectId,ActorUserPrincipalName,IPAddress,ActorServicePrincipalId,ActorServicePrincipalName,"
    "Target1Type,Target1DisplayName,Target1ObjectId,Target1UserPrincipalName,"
    "Target1ModifiedProperty1Name,Target1ModifiedProperty1OldValue,Target1ModifiedProperty1NewValue,"
    "Target2Type,Target2DisplayName,Target2ObjectId,Target2UserPrincipalName,"
    "Target2ModifiedProperty1Name,Target2ModifiedProperty1OldValue,Target2ModifiedProperty1NewValue,"
    "AdditionalDetail1Key,AdditionalDetail1Value,AdditionalDetail2Key,AdditionalDetail2Value\n"
)


def entra(*cells: str) -> str:
    return ENTRA_HEADER + ",".join(cells) + "\n"


def test_an_entra_row_with_a_user_actor_targets_and_details() -> None:
    row = entra(
        "2024-05-02T08:00:01.5Z", "c1", "Core Directory", "UserManagement", "Update user", "Success", "",
        "User", "Adele", "u-1", "adele@contoso.com", "203.0.113.7", "", "",
        "ServicePrincipal", "Webex", "sp-1", "", "AccountEnabled", '"[true]"', '"[false]"',
        "", "", "", "", "Ignored", "x", "y",
        "AppId", APP, "User-Agent", "",
    )  # fmt: skip
    record = only(row)
    assert (record.activity, record.source, record.correlation_id, record.category) == (
        "Update user", Source.GRAPH, "c1", "UserManagement",
    )  # fmt: skip
    assert (record.result, record.logged_by_service) == ("success", "Core Directory")
    assert record.event_time == datetime(2024, 5, 2, 8, 0, 1, 500000, tzinfo=UTC)
    assert record.initiator == Initiator("user", "u-1", "Adele", "adele@contoso.com", "203.0.113.7")
    assert record.targets == (
        TargetResource(
            "sp-1", "Webex", "ServicePrincipal", APP, (ModifiedProperty("AccountEnabled", [True], [False]),)
        ),
    )
    assert record.additional_details == (("AppId", APP), ("User-Agent", ""))
    assert record.record_id.startswith("derived_")


def test_an_entra_row_with_an_app_actor_and_a_portal_time() -> None:
    row = entra(
        '"5/2/2024, 9:30:00 AM"', "c2", "", "", "Update user", "", "",
        "App", "", "", "", "", "sp-actor", "Substrate",
        "User", "Alex", "u-2", "alex@contoso.com", "", "", "",
        "", "", "", "", "", "", "", "", "", "", "",
    )  # fmt: skip
    record = only(row)
    assert record.event_time == datetime(2024, 5, 2, 9, 30, tzinfo=UTC)
    assert record.initiator == Initiator("app", "sp-actor", "Substrate")
    assert record.targets == (TargetResource("u-2", "Alex", "User", None, ()),)
    assert record.additional_details == ()
    assert (record.result, record.logged_by_service, record.category) == (None, None, None)


@pytest.mark.parametrize(
    ("actor", "expected"),
    [
        (("", "Name", "obj-1", "", ""), Initiator("user", "obj-1", "Name")),  # no type, an object id: a user
        (("", "", "", "a@b.c", ""), Initiator("user", None, None, "a@b.c")),
        (("serviceprincipal", "Tool", "obj-1", "a@b.c", ""), Initiator("app", "obj-1", "Tool")),
        (("Application", "", "", "", "sp-2"), Initiator("app", "sp-2", None)),
        (("", "", "", "", ""), Initiator()),
        (("Other", "", "", "", "sp-3"), Initiator("app", "sp-3", None)),
    ],
)
def test_who_an_entra_row_names(actor: tuple[str, str, str, str, str], expected: Initiator) -> None:
    kind, name, object_id, upn, sp = actor
    row = entra(
        "2024-05-02T08:00:00Z", "c1", "", "", "Update user", "", "", kind, name, object_id, upn, "", sp, "",
        *[""] * 18,
    )  # fmt: skip
    assert only(row).initiator == expected


def test_an_entra_row_reads_the_same_columns_in_any_order_and_casing() -> None:
    header = (
        "ACTIVITY,target1objectid,Target1ModifiedProperty1NewValue,Target1ModifiedProperty1Name,CORRELATIONID,Date\n"
    )
    record = only(header + f'Update user,sp-1,"[""{APP}""]",AppId,c9,2024-05-02T08:00:00Z\n')
    assert record.correlation_id == "c9"
    assert record.event_time == datetime(2024, 5, 2, 8, 0, tzinfo=UTC)
    assert record.targets == (TargetResource("sp-1", None, None, APP, (ModifiedProperty("AppId", None, [APP]),)),)


def test_an_entra_row_with_its_own_id_and_a_detail_without_a_key() -> None:
    header = "Id,Activity,CorrelationId,ActivityDateTime,"
    header += "AdditionalDetail1Key,AdditionalDetail1Value,AdditionalDetail2Value\n"
    record = only(header + "own-id,Update user,c1,2024-05-02T08:00:00Z,,dropped,alone\n")
    assert record.record_id == "own-id"
    assert record.additional_details == ()


def test_an_entra_row_without_an_id_or_a_time_is_noted() -> None:
    found = read("Activity,CorrelationId\nUpdate user,c1\n")
    assert found.records == []
    assert found.skipped == ["line 2: record 'Update user' has no id and no correlationId+time to derive one"]


def test_short_rows_blank_rows_and_a_row_spanning_lines() -> None:
    data = 'Activity,CorrelationId,Date\nUpdate user,c1\n,,\n"Update\nuser",c2,2024-05-02T08:00:00Z\n'
    found = read(data)
    assert found.skipped == ["line 2: 2 fields for 3 columns"]
    assert [(r.activity, r.correlation_id) for r in found.records] == [("Update\nuser", "c2")]
    assert read("Activity,CorrelationId\n\n").records == []


# --- Log Analytics -------------------------------------------------------------------------------


def test_a_log_analytics_row() -> None:
    header = "TenantId,TimeGenerated [UTC],Id,ActivityDisplayName,Result,TargetResources,AADTenantId,Category\n"
    targets = f'"[{{""id"":""sp-1"",""type"":""ServicePrincipal"",""appId"":""{APP}""}}]"'
    tenant = "0b9a2f0c-7a7e-4c5a-9c7e-2f0f4f1f6a11"
    row = f'workspace,"5/1/2024, 10:16:40.555 AM",r1,Delete service principal,success,{targets},{tenant},\n'
    record = only(header + row)
    assert (record.record_id, record.activity, record.source, record.tenant_id) == (
        "r1", "Delete service principal", Source.LOG_ANALYTICS, tenant,
    )  # fmt: skip
    assert record.ingested_time == datetime(2024, 5, 1, 10, 16, 40, 555000, tzinfo=UTC)
    assert record.targets == (TargetResource("sp-1", None, "ServicePrincipal", APP, ()),)
    assert record.category is None


def test_a_log_analytics_header_wins_over_entra_columns_and_short_rows_are_noted() -> None:
    found = read("OperationName,Activity,CorrelationId,Id\nUpdate user,x,c1,r1\nUpdate user,x\n")
    assert [(r.record_id, r.source) for r in found.records] == [("r1", Source.LOG_ANALYTICS)]
    assert found.skipped == ["line 3: 2 fields for 4 columns"]


# --- what is refused -------------------------------------------------------------------------------


def test_headers_without_audit_columns() -> None:
    assert refusal("Activity\nx\n") == "unsupported payload: a CSV whose header ('Activity') has no audit-log columns"
    assert refusal("a,b,c,d,e,f\n") == (
        "unsupported payload: a CSV whose header ('a', 'b', 'c', 'd', 'e') has no audit-log columns"
    )
    assert refusal("\n") == "unsupported payload: a CSV whose header ((none)) has no audit-log columns"
    assert (
        refusal("x" * 40 + "\n") == f"unsupported payload: a CSV whose header ('{'x' * 30}') has no audit-log columns"
    )


def test_an_empty_file_has_no_header() -> None:
    assert refusal(b"") == "invalid CSV: no header row"


def test_utf16_and_invalid_utf8_are_refused() -> None:
    assert refusal(b"\xff\xfeA\x00") == "invalid UTF-8: the file is UTF-16 (save it as UTF-8)"
    assert refusal(b"\xfe\xff\x00A") == "invalid UTF-8: the file is UTF-16 (save it as UTF-8)"
    assert refusal(b"Activity,CorrelationId\nUpdate user,c\xff1\n") == "invalid UTF-8 on line 2"


def test_a_byte_order_mark_only_on_the_first_line() -> None:
    record = only("\ufeffActivity,CorrelationId,Date\nUpdate user,c1,2024-05-02T08:00:00Z\n")
    assert record.correlation_id == "c1"
    (later,) = read(b"Activity,CorrelationId,Date\n\xef\xbb\xbfUpdate user,c1,2024-05-02T08:00:00Z\n").records
    assert later.activity == "\ufeffUpdate user"


def test_a_malformed_quote_names_its_line() -> None:
    assert refusal('Activity,CorrelationId\nUpdate user,c1\n"x"y,c2\n') == (
        "invalid CSV on line 3: ',' expected after '\"'"
    )


def test_too_many_columns() -> None:
    assert refusal(",".join(f"c{n}" for n in range(2001)) + "\n") == "unsupported CSV: 2001 columns"
    header = "Activity,CorrelationId," + ",".join(f"c{n}" for n in range(1998))
    assert read(header + "\n").records == []


def test_a_line_of_exactly_the_cap_and_one_over() -> None:
    head = "Activity,CorrelationId,Date,Note\n"
    start = "Update user,c1,2024-05-02T08:00:00Z,"
    line = start + "x" * (export_csv.LINE_CAP - len(start) - 1) + "\n"
    assert len(line) == export_csv.LINE_CAP
    (record,) = read(head + line).records
    assert record.correlation_id == "c1"
    assert refusal(head + line[:-1] + "x\n") == "line 2 is longer than 1 MiB"


def test_a_field_over_the_cap_spread_over_lines() -> None:
    head = "Activity,CorrelationId,Date,Note\n"
    chunk = "x" * 4000 + "\n"
    field = chunk * (export_csv.FIELD_CAP // len(chunk) + 1)
    message = refusal(head + f'Update user,c1,2024-05-02T08:00:00Z,"{field}"\n')
    assert message.startswith("invalid CSV on line ")
    assert "field larger than field limit (1048576)" in message


def test_a_record_over_1000_lines() -> None:
    head = "Activity,CorrelationId,Date,Note\n"
    start = 'Update user,c1,2024-05-02T08:00:00Z,"'
    assert only(head + start + "\n" * 999 + '"\n').correlation_id == "c1"
    assert refusal(head + start + "\n" * 1000 + '"\n') == "a record starting before line 1002 spans over 1000 lines"


def test_the_field_limit_is_restored() -> None:
    import csv

    original = csv.field_size_limit(4321)
    try:
        read("Activity,CorrelationId\nUpdate user,c1\n")
        assert csv.field_size_limit() == 4321
        with pytest.raises(PayloadError):
            read("a\n")
        assert csv.field_size_limit() == 4321
    finally:
        csv.field_size_limit(original)


def test_cells_are_stripped_and_blank_cells_are_absent() -> None:
    header = "Activity,CorrelationId,Date,Target1ObjectId,Target1Type\n"
    record = only(header + "  Update user , c1 ,2024-05-02T08:00:00Z,  ,  \n")
    assert (record.activity, record.correlation_id, record.targets) == ("Update user", "c1", ())


def test_a_header_over_1000_lines() -> None:
    assert refusal('"Activity' + "\n" * 1000 + '",CorrelationId\n') == (
        "a record starting before line 1001 spans over 1000 lines"
    )


def test_a_target_with_two_modified_properties() -> None:
    header = "Activity,CorrelationId,Date,Target1ObjectId,"
    header += "Target1ModifiedProperty1Name,Target1ModifiedProperty1NewValue,"
    header += "Target1ModifiedProperty2Name,Target1ModifiedProperty2NewValue\n"
    record = only(header + "Update user,c1,2024-05-02T08:00:00Z,sp-1,A,[1],B,[2]\n")
    assert record.targets == (
        TargetResource("sp-1", None, None, None, (ModifiedProperty("A", None, [1]), ModifiedProperty("B", None, [2]))),
    )
