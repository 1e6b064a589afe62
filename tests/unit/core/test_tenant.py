"""The tenant record and its row codec (shared/core/tenant.py): malformed, truncated, oversized and
hostile values from the CLI or a hand-edited row are refused by field name, or kept inert."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from shared.core.tenant import (
    MAX_DISPLAY_NAME,
    TenantError,
    channel_map,
    contact_addresses,
    inert_name,
    make_tenant,
    tenant_from_row,
    tenant_to_row,
)

GUID = "8F2C3A1E-5B6D-4E7F-9A0B-1C2D3E4F5A6B"


def test_round_trip_and_case() -> None:
    at = datetime(2026, 11, 30, 0, 1, 2, tzinfo=UTC)
    tenant = make_tenant(GUID, display_name=" Contoso ", webex_org_id="org-1", contacts="A@x.example;b@y.example",
                         channels='{"teams": "https://t.example/1"}', onboarded_at=at)  # fmt: skip
    row = tenant_to_row(tenant)
    assert row["PartitionKey"] == "tenant" and row["RowKey"] == GUID.lower()
    assert row["contacts"] == "A@x.example;b@y.example"
    assert json.loads(row["channels"]) == {"teams": "https://t.example/1"}
    assert tenant_from_row(row) == tenant
    assert tenant.display_name == "Contoso"


@pytest.mark.parametrize(
    "value",
    ["", "   ", "contoso.com", "common", GUID[:-1], GUID + "0", "{" + GUID + "}", None, 42, GUID.replace("-", ""),
     GUID[:8] + "\n" + GUID[9:]],
)  # fmt: skip
def test_tenant_id_must_be_a_guid(value: object) -> None:
    with pytest.raises(TenantError, match=r"^tenant id:"):
        make_tenant(value)


@pytest.mark.parametrize(
    "value",
    ["plain", "@x.example", "a@", "a@b", "a@.example", "a@example.", "a b@x.example", "a@x.example\r\nBcc: b@x",
     "<a@x.example>", "a@x,example", "x" * 250 + "@x.example", ["a@x.example", 3], 7, {"a": "b"}],
)  # fmt: skip
def test_contacts_refused(value: object) -> None:
    with pytest.raises(TenantError, match=r"^contacts:"):
        contact_addresses(value)


def test_contacts_split_trim_dedupe_and_bound() -> None:
    assert contact_addresses(" a@x.example ;; A@X.example , b@y.example,") == ("a@x.example", "b@y.example")
    assert contact_addresses(["a@x.example"]) == ("a@x.example",)
    assert len(contact_addresses([f"u{i}@x.example" for i in range(50)])) == 50
    with pytest.raises(TenantError, match="at most 50"):
        contact_addresses([f"u{i}@x.example" for i in range(51)])


@pytest.mark.parametrize(
    "value",
    ['{"teams": ', "[1]", "null", '"x"', '{"sms": "1"}', '{"teams": 1}', '{"teams": "a\\nb"}', "[" * 5000,
     '{"webhook": "' + "x" * 3000 + '"}', " " * 9000, "{" + ",".join(f'"k{i}": 1' for i in range(2000)) + "}", 5],
)  # fmt: skip
def test_channels_refused(value: object) -> None:
    with pytest.raises(TenantError, match=r"^channels:"):
        channel_map(value)


def test_channels_accepted() -> None:
    assert channel_map("") == {}
    assert channel_map('{"webex": "room-1", "email": "a@x.example"}') == {"webex": "room-1", "email": "a@x.example"}


@given(st.text(max_size=600))
@hsettings(max_examples=300, deadline=None)
def test_display_name_is_inert_for_any_text(text: str) -> None:
    name = inert_name(text)
    assert len(name) <= MAX_DISPLAY_NAME
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in name)
    assert "\u2028" not in name and "\u2029" not in name
    assert name == name.strip()


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"PartitionKey": "other", "RowKey": GUID}, "row"),
        ({"PartitionKey": "tenant"}, "tenant id"),
        ({"PartitionKey": "tenant", "RowKey": GUID, "enabled": "yes"}, "enabled"),
        (
            {"PartitionKey": "tenant", "RowKey": GUID, "onboarded_at": "2026-11-30T00:00:00.0000000+00:00"},
            "onboarded_at",
        ),
        ({"PartitionKey": "tenant", "RowKey": GUID, "contacts": "a@x.example;nope"}, "contacts"),
        ({"PartitionKey": "tenant", "RowKey": GUID, "channels": '{"teams"'}, "channels"),
        ({"PartitionKey": "tenant", "RowKey": GUID, "webex_org_id": "a/b"}, "webex org id"),
    ],
)
def test_bad_rows_name_the_field(row: dict[str, object], field: str) -> None:
    with pytest.raises(TenantError, match=rf"^{field}:"):
        tenant_from_row(row)


def test_a_minimal_row_reads_with_defaults() -> None:
    tenant = tenant_from_row({"PartitionKey": "tenant", "RowKey": GUID})
    assert (tenant.contacts, dict(tenant.channels), tenant.enabled, tenant.webex_org_id) == ((), {}, True, None)
