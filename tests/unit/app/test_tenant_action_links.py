"""Issue 17 point 6: a customer tenant's signed action link acts on that tenant's incident only, and
the page it answers with shows that tenant's consent URL — never the deployment's own tenant."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from shared.app.action_pages import result_page
from shared.app.actions import ActionDeps, ActionResult, acknowledge
from shared.clients.table import Table
from shared.core.action_links import ForgedLink, LinkAction, LinkKeys, issue, verify
from shared.core.settings import Settings
from shared.incidents.store import IncidentStore
from tests.fakes.memtable import MemTable
from tests.unit.incidents.conftest import incident

PROVIDER_TENANT = "8f2c3a1e-5b6d-4e7f-9a0b-1c2d3e4f5a6b"
A = "11111111-2222-4333-8444-555555555555"
B = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
KEYS = LinkKeys(b"k" * 40)
NOW = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
PROVIDER = Settings.model_validate(
    {
        "TENANT_ID": PROVIDER_TENANT,
        "WEBEX_ORG_ID": "provider-org",
        "TENANCY_MODE": "provider",
        "PROVIDER_APP_CLIENT_ID": "5b0c7e4e-2f1d-4c1a-9a51-7d2f3b8c9e01",
    }
)


async def _store() -> IncidentStore:
    client = MemTable("incidents")
    await client.create_table()
    store = IncidentStore(Table(client))  # type: ignore[arg-type]
    for tenant, iid in ((A, "inc-a"), (B, "inc-b")):
        await store.open_or_attach(incident(tenant_id=tenant, incident_id=iid, deliveries={}), "timer")
    return store


async def _no_verify(*args: object) -> tuple[str, tuple[tuple[str, str], ...]]:
    raise AssertionError("acknowledge does not verify")


async def test_a_tenants_link_acknowledges_its_own_incident_and_no_other() -> None:
    store = await _store()
    token = issue(tenant_id=A, app_key="integration", incident_id="inc-a", action=LinkAction.ACKNOWLEDGE,
                  now=NOW, keys=KEYS)  # fmt: skip
    result = await acknowledge(ActionDeps(store, _no_verify), verify(token, KEYS, now=NOW))
    assert result.outcome == "acknowledged"
    a, b = await store.get_open(A, "integration"), await store.get_open(B, "integration")
    assert a is not None and a.acknowledged_at is not None
    assert b is not None and b.acknowledged_at is None


def test_a_link_edited_to_name_another_tenant_is_refused() -> None:
    token = issue(tenant_id=A, app_key="integration", incident_id="inc-a", action=LinkAction.ACKNOWLEDGE,
                  now=NOW, keys=KEYS)  # fmt: skip
    payload, mac = token.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body["t"] = B
    edited = base64.urlsafe_b64encode(json.dumps(body, separators=(",", ":")).encode()).rstrip(b"=").decode()
    with pytest.raises(ForgedLink):
        verify(f"{edited}.{mac}", KEYS, now=NOW)


def test_the_result_page_shows_the_incidents_tenants_consent_url() -> None:
    claims = verify(
        issue(tenant_id=A, app_key="integration", incident_id="inc-a", action=LinkAction.CHECK_NOW, now=NOW,
              keys=KEYS),
        KEYS, now=NOW,
    )  # fmt: skip
    page = result_page(PROVIDER, claims, ActionResult("still_broken", incident(tenant_id=A, incident_id="inc-a")))
    assert f"https://login.microsoftonline.com/{A}/adminconsent?client_id=" in page.html
    assert "https://entra.microsoft.com/?tenant=" + A in page.html
    assert PROVIDER_TENANT not in page.html
