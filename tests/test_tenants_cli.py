"""``python -m shared.cli tenants add|list|remove|onboard`` against Azurite and the simulator:
the rows round-trip, hostile input is refused with exit 2 (or kept inert), a hand-written bad row is
reported without hiding the others, and ``onboard`` prints the provider app's admin-consent URL for
the customer tenant, then says whether access works and, if not, what is missing."""

from __future__ import annotations

import asyncio
import functools
import io
import json
import re
import uuid
from typing import Any

import pytest

from shared.cli.main import main

PROVIDER_APP = "5b0c7e4e-2f1d-4c1a-9a51-7d2f3b8c9e01"


def _cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["tenants", *args], out, err)
    return code, out.getvalue(), err.getvalue()


async def _run(*args: str) -> tuple[int, str, str]:
    """The CLI runs its own event loop: keep the test's loop free."""
    result: tuple[int, str, str] = await asyncio.get_running_loop().run_in_executor(
        None, functools.partial(_cli, *args)
    )
    return result


@pytest.fixture
def provider(sim: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("TENANTS_TABLE", "ten" + uuid.uuid4().hex[:12])
    monkeypatch.setenv("TENANCY_MODE", "provider")
    monkeypatch.setenv("PROVIDER_APP_CLIENT_ID", PROVIDER_APP)
    return sim


async def _listed() -> dict[str, Any]:
    code, out, err = await _run("list", "--json")
    assert code == 0, err
    return {row["tenant"]: row for row in json.loads(out)["tenants"]}


async def test_add_list_remove_round_trip(provider: Any) -> None:
    a, b = str(uuid.uuid4()), str(uuid.uuid4()).upper()
    channels = '{"teams": "https://contoso.webhook.office.com/x"}'
    contacts = "it@contoso.example; ops@contoso.example"
    code, out, err = await _run("add", a, "--name", "Contoso", "--contacts", contacts, "--channels", channels,
                                "--webex-org", "org-1")  # fmt: skip
    assert (code, err) == (0, ""), err
    assert f"tenants onboard {a}" in out
    assert (await _run("add", b, "--contacts", "admin@fabrikam.example", "--disabled"))[0] == 0
    assert (await _run("add", a, "--name", "Other"))[0] == 1  # already there: nothing overwritten
    rows = await _listed()
    assert rows[a]["name"] == "Contoso"
    assert rows[a]["contacts"] == ["it@contoso.example", "ops@contoso.example"]
    assert rows[a]["channels"] == ["teams"]
    assert rows[a]["webex_org"] == "org-1"
    assert rows[b.lower()]["contacts"] == ["admin@fabrikam.example"]
    assert rows[b.lower()]["enabled"] is False
    code, table, _ = await _run("list")
    assert code == 0 and table.splitlines()[0].split() == [
        "tenant",
        "name",
        "enabled",
        "onboarded",
        "contacts",
        "channels",
        "webex",
    ]
    assert (await _run("remove", b))[0] == 0
    assert (await _run("remove", b))[0] == 1
    assert set(await _listed()) == {a}


@pytest.mark.parametrize(
    "args",
    [
        ["add", "contoso.onmicrosoft.com"],  # a domain: row keys are GUIDs
        ["add", "not-a-tenant"],
        ["add", "00000000-0000-0000-0000-00000000000"],  # truncated GUID
        ["add", str(uuid.uuid4()), "--contacts", "it@contoso.example, <script>@x"],
        ["add", str(uuid.uuid4()), "--contacts", "it@contoso.example\r\nBcc: all@x.example"],
        ["add", str(uuid.uuid4()), "--contacts", ",".join(f"u{i}@x.example" for i in range(51))],
        ["add", str(uuid.uuid4()), "--channels", '{"teams": '],
        ["add", str(uuid.uuid4()), "--channels", '{"sms": "123"}'],
        ["add", str(uuid.uuid4()), "--channels", "[1, 2]"],
        ["add", str(uuid.uuid4()), "--channels", '{"webhook": "' + "x" * 9000 + '"}'],
        ["add", str(uuid.uuid4()), "--channels", "[" * 100_000],
        ["add", str(uuid.uuid4()), "--webex-org", "../../etc?x=1"],
        ["remove", "'; DROP TABLE tenants"],
        ["onboard", "common"],
    ],
)
async def test_hostile_input_is_refused(provider: Any, args: list[str]) -> None:
    code, out, err = await _run(*args)
    assert code == 2, (out, err)
    assert err.startswith(f"tenants {args[0]}: ") and err.count("\n") == 1
    assert set(await _listed()) == set()


async def test_hostile_display_name_is_kept_inert(provider: Any) -> None:
    tenant = str(uuid.uuid4())
    name = "Evil\r\nBcc: x@y.example <b>**bold**</b>\x00\u2028" + "A" * 400
    assert (await _run("add", tenant, "--name", name))[0] == 0
    shown = (await _listed())[tenant]["name"]
    assert shown.startswith("Evil Bcc: x@y.example <b>**bold**</b> A")
    assert len(shown) == 256 and all(c.isprintable() for c in shown)


async def test_a_bad_row_is_reported_and_hides_no_other(provider: Any, services_env: dict[str, str]) -> None:
    from azure.data.tables.aio import TableClient

    good = str(uuid.uuid4())
    assert (await _run("add", good, "--contacts", "it@contoso.example"))[0] == 0
    import os

    async with TableClient.from_connection_string(
        services_env["AzureWebJobsStorage"], os.environ["TENANTS_TABLE"]
    ) as t:
        await t.create_entity({"PartitionKey": "tenant", "RowKey": "not-a-guid", "contacts": "x@y.example"})
        await t.create_entity({"PartitionKey": "tenant", "RowKey": str(uuid.uuid4()), "contacts": "not an address"})
        await t.create_entity({"PartitionKey": "tenant", "RowKey": str(uuid.uuid4()), "channels": "{]"})
    code, out, _ = await _run("list", "--json")
    assert code == 1
    listing = json.loads(out)
    assert [row["tenant"] for row in listing["tenants"]] == [good]
    assert len(listing["bad_rows"]) == 3


async def test_onboard_needs_the_provider_app(sim: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENANTS_TABLE", "ten" + uuid.uuid4().hex[:12])
    monkeypatch.delenv("PROVIDER_APP_CLIENT_ID", raising=False)  # the simulator's environment names one
    code, _, err = await _run("onboard", str(uuid.uuid4()))
    assert code == 2 and "PROVIDER_APP_CLIENT_ID" in err
    monkeypatch.setenv("TENANCY_MODE", "provider")
    code, _, err = await _run("list")
    assert code == 2 and "PROVIDER_APP_CLIENT_ID: required when TENANCY_MODE=provider" in err


async def test_onboard_prints_the_consent_url_and_says_consent_is_missing(provider: Any) -> None:
    tenant = str(uuid.uuid4())
    assert (await _run("add", tenant))[0] == 0
    await provider.add_fault(
        f"^/{tenant}/oauth2/v2\\.0/token$", method="POST", status=400, times=None,
        body={"error": "invalid_client", "error_codes": [65001],
              "error_description": "AADSTS65001: The user or administrator has not consented to use the application."},
    )  # fmt: skip
    code, out, err = await _run("onboard", tenant)
    assert code == 1, err
    assert f"https://login.microsoftonline.com/{tenant}/adminconsent?client_id={PROVIDER_APP}" in out
    assert "access: MISSING: the customer's admin has not granted consent" in out and "AADSTS65001" in out
    assert (await _listed())[tenant]["onboarded_at"] is None


async def test_onboard_checks_access_as_the_customer_and_records_it(provider: Any) -> None:
    from shared.clients.credentials import make_credential
    from shared.core.settings import get_settings

    tenant = str(uuid.uuid4())
    assert (await _run("add", tenant))[0] == 0
    mi = make_credential()
    try:  # a token the simulated Graph accepts, handed out as the customer tenant's
        graph_token = (await mi.get_token(get_settings().graph_scope)).token
    finally:
        await mi.close()
    await provider.add_fault(
        f"^/{tenant}/oauth2/v2\\.0/token$", method="POST", status=200, times=None,
        body={"token_type": "Bearer", "expires_in": 3600, "ext_expires_in": 3600, "access_token": graph_token},
    )  # fmt: skip
    code, out, err = await _run("onboard", tenant)
    assert code == 0, (out, err)
    assert "access: OK: access works" in out
    onboarded = (await _listed())[tenant]["onboarded_at"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", onboarded), onboarded  # format_timestamp
    assert onboarded in (await _run("list"))[1]
    token_calls = [r["path"] for r in await provider.requests(method="POST") if r["path"].endswith("/token")]
    assert f"/{tenant}/oauth2/v2.0/token" in token_calls
