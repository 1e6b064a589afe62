"""The tenants table (shared/clients/tenants.py) over the in-memory table: insert-if-absent, remove,
onboarded under the ETag, and the isolation property — through any sequence of add / list / remove,
a tenant's row carries only its own contacts and channels."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from shared.clients.table import Table
from shared.clients.tenants import TenantStore
from shared.core.tenant import Tenant, make_tenant
from tests.fakes.memtable import MemTable


def _store() -> TenantStore:
    return TenantStore(Table(MemTable("tenants")))  # type: ignore[arg-type]


async def test_add_is_insert_if_absent_and_remove_reports() -> None:
    store = _store()
    await store.ensure()
    first = make_tenant("11111111-1111-1111-1111-111111111111", contacts="a@x.example")
    assert await store.add(first)
    assert not await store.add(make_tenant(first.tenant_id, contacts="intruder@y.example"))
    assert await store.get(first.tenant_id) == first
    at = datetime(2026, 11, 30, tzinfo=UTC)
    onboarded = await store.set_onboarded(first.tenant_id, at)
    assert onboarded is not None and onboarded.onboarded_at == at and onboarded.contacts == first.contacts
    assert await store.remove(first.tenant_id)
    assert not await store.remove(first.tenant_id)
    assert await store.set_onboarded(first.tenant_id, at) is None
    assert (await store.list()).tenants == ()


_guid = st.sampled_from([f"{i:08x}-0000-4000-8000-{i:012x}" for i in range(1, 7)])  # few ids: they collide
_label = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12)
_tenant = st.builds(
    lambda tid, users, dom, room: make_tenant(
        tid, contacts=[f"{u}@{dom}.example" for u in users], channels={"webex": f"room-{room}"}
    ),
    _guid, st.lists(_label, min_size=1, max_size=4), _label, _label,
)  # fmt: skip
_op = st.one_of(
    st.tuples(st.just("add"), _tenant),
    st.tuples(st.just("remove"), st.integers(min_value=0, max_value=30)),
    st.tuples(st.just("list"), st.none()),
)


@given(st.lists(_op, min_size=1, max_size=25))
@hsettings(max_examples=120, deadline=None)
def test_no_row_ever_carries_another_tenants_contacts_or_channels(ops: list[tuple[str, object]]) -> None:
    async def run() -> None:
        store = _store()
        await store.ensure()
        model: dict[str, Tenant] = {}  # what each tenant was added with (first add wins)
        for op, arg in ops:
            if op == "add" and isinstance(arg, Tenant):
                added = await store.add(arg)
                assert added == (arg.tenant_id not in model)
                model.setdefault(arg.tenant_id, arg)
            elif op == "remove" and isinstance(arg, int) and model:
                victim = sorted(model)[arg % len(model)]
                assert await store.remove(victim)
                del model[victim]
            listing = await store.list()
            assert listing.bad_rows == ()
            assert {t.tenant_id: (t.contacts, dict(t.channels)) for t in listing.tenants} == {
                k: (t.contacts, dict(t.channels)) for k, t in model.items()
            }

    asyncio.run(run())
