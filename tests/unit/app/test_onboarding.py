"""Onboarding's access check (shared/app/onboarding.py) and the per-tenant checks' isolation
(shared/app/tenant_checks.py), with tiny fakes: each failure says what is missing, ``onboarded_at``
is recorded only when access works, and one tenant's failure is only that tenant's row."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from azure.core.exceptions import ClientAuthenticationError
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from shared.app.onboarding import check_access, missing_from_token_error, onboard
from shared.app.tenant_checks import check_tenants
from shared.clients.graph import ServicePrincipal
from shared.clients.table import Table
from shared.clients.tenants import TenantStore
from shared.core.catalogue import INTEGRATION_APP_ID
from shared.core.errors import TransientError, UpstreamError
from shared.core.tenant import Tenant, make_tenant
from tests.fakes.memtable import MemTable


class _Graph:
    def __init__(self, answer: list[ServicePrincipal] | Exception) -> None:
        self.answer = answer
        self.asked: list[str] = []

    async def service_principals_by_app_id(self, app_id: str) -> list[ServicePrincipal]:
        self.asked.append(app_id)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


SP = ServicePrincipal(id="sp-1", app_id=INTEGRATION_APP_ID, display_name="Cisco Webex Identity Integration",
                      account_enabled=True)  # fmt: skip


@pytest.mark.parametrize(
    ("answer", "ok", "says"),
    [
        ([SP], True, "service principal is there"),
        ([], True, "not in this tenant"),
        (ClientAuthenticationError("AADSTS65001: The user or administrator has not consented"), False,
         "has not granted consent"),
        (ClientAuthenticationError("AADSTS70021: No matching federated identity record found"), False,
         "no federated identity credential"),
        (ClientAuthenticationError("AADSTS99999999: new"), False, "consent for the provider's app is missing"),
        (ClientAuthenticationError("no code at all"), False, "consent for the provider's app is missing"),
        (UpstreamError("Graph answered 403", status=403), False, "lacks Application.Read.All"),
        (UpstreamError("Graph answered 401", status=401), False, "consent for the provider's app is missing"),
        (UpstreamError("Graph answered 400", status=400), False, "Graph refused the read"),
        (TransientError("Graph answered 429"), False, "try again"),
    ],
)  # fmt: skip
async def test_access_says_what_is_missing(answer: Any, ok: bool, says: str) -> None:
    graph = _Graph(answer)
    access = await check_access(graph)
    assert (access.ok, says in access.detail) == (ok, True), access.detail
    assert graph.asked == [INTEGRATION_APP_ID]


def test_token_error_text_is_bounded_to_the_code() -> None:
    hostile = "AADSTS65001" + "<script>" * 1000
    assert "<script>" not in missing_from_token_error(hostile)


async def test_onboarded_at_only_when_access_works() -> None:
    store = TenantStore(Table(MemTable("tenants")))  # type: ignore[arg-type]
    await store.ensure()
    tenant = make_tenant("22222222-2222-2222-2222-222222222222")
    await store.add(tenant)
    at = datetime(2026, 11, 30, 1, tzinfo=UTC)
    refused = await onboard(store, _Graph(ClientAuthenticationError("AADSTS65001")), tenant, at)
    assert not refused.ok
    assert (await store.get(tenant.tenant_id)).onboarded_at is None  # type: ignore[union-attr]
    assert (await onboard(store, _Graph([SP]), tenant, at)).ok
    assert (await store.get(tenant.tenant_id)).onboarded_at == at  # type: ignore[union-attr]


_errors = st.sampled_from(["auth", "upstream", "transient"])


@given(st.lists(st.tuples(st.uuids(), _errors), min_size=1, max_size=12, unique_by=lambda x: x[0]))
@hsettings(max_examples=60, deadline=None)
def test_a_tenants_failure_is_only_its_own_row(spec: list[tuple[Any, str]]) -> None:
    tenants = [make_tenant(str(u), contacts=f"it@t{i}.example") for i, (u, _) in enumerate(spec)]
    kinds = {t.tenant_id: kind for t, (_, kind) in zip(tenants, spec, strict=True)}

    async def clients_for(tenant: Tenant) -> Any:
        await asyncio.sleep(0)
        tag = f"tenant {tenant.tenant_id} {tenant.contacts[0]}"
        kind = kinds[tenant.tenant_id]
        if kind == "auth":
            raise ClientAuthenticationError(f"AADSTS65001 {tag}")
        if kind == "upstream":
            raise UpstreamError(f"Graph answered 403 for {tag}", status=403)
        raise TransientError(f"Graph answered 429 for {tag}")

    checked = asyncio.run(check_tenants(tenants, clients_for, concurrency=3))
    assert [c.tenant for c in checked] == tenants
    for c in checked:
        assert [r.name for r in c.results] == ["tenant.access"] and not c.healthy
        others = [t for t in tenants if t.tenant_id != c.tenant.tenant_id]
        text = " ".join(r.evidence for r in c.results)
        assert not any(t.tenant_id in text or t.contacts[0] in text for t in others)
