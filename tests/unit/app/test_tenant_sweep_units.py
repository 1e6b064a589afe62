"""Provider mode's sweep without services (shared/app/tenant_sweep.py, shared/app/audit_cadence.py,
shared/clients/sweep_results.py): the cadence staggers tenants, a tenant whose configuration cannot be
used is its own result and never an exception, a hand-edited result row never reads as healthy, and
the digest goes out on a change, as a reminder, and again when a send failed — never twice for the
same set."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.app.audit_cadence import cadence_due, stagger
from shared.app.tenant_sweep import FanOutDeps, TenantSweepDeps, send_digest, sweep_tenant
from shared.clients.checkpoints import Checkpoints
from shared.clients.sweep_queue import SweepMessage
from shared.clients.sweep_results import Board, SweepResult, SweepResults, result_from_row
from shared.clients.table import Table
from shared.clients.tenants import TenantListing, TenantStore
from shared.core.errors import ConfigError
from shared.core.settings import load_settings
from shared.core.tenant import make_tenant
from shared.notify.operational import OperationalNotice
from tests.fakes.memtable import MemTable

NOW = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
SETTINGS = {
    "TENANT_ID": "8f2c3a1e-5b6d-4e7f-9a0b-1c2d3e4f5a6b",
    "WEBEX_ORG_ID": "provider-org",
    "TENANCY_MODE": "provider",
    "PROVIDER_APP_CLIENT_ID": "5b0c7e4e-2f1d-4c1a-9a51-7d2f3b8c9e01",
    "REMINDER_HOURS": "4",
}


async def _table() -> Table:
    table = Table(MemTable("t" + uuid.uuid4().hex[:8]))  # type: ignore[arg-type]
    await table.ensure()
    return table


def test_the_cadence_is_due_once_per_period_in_the_tenants_own_slot() -> None:
    cadence = timedelta(minutes=10)
    tenant = str(uuid.uuid4())
    assert cadence_due(tenant, cadence, None, NOW)  # never read: at once
    slot = stagger(tenant, 600)
    start = datetime.fromtimestamp((NOW.timestamp() // 600) * 600 + slot, UTC)  # the tenant's slot
    assert not cadence_due(tenant, cadence, start + timedelta(seconds=1), start + timedelta(seconds=599))
    assert cadence_due(tenant, cadence, start - timedelta(seconds=1), start + timedelta(seconds=1))
    assert cadence_due(tenant, cadence, start, start + timedelta(seconds=600))


def test_1000_tenants_spread_over_the_cadence() -> None:
    """At a 10-minute cadence each minute holds about a tenth of the routine reads (122 per 10 s
    across the app would allow 732 a minute)."""
    per_minute = Counter(int(stagger(str(uuid.UUID(int=n * 7919 + 1)), 600) // 60) for n in range(1000))
    assert set(per_minute) == set(range(10))
    assert max(per_minute.values()) < 140 and min(per_minute.values()) > 60


@pytest.mark.parametrize(
    "row",
    [
        {"RowKey": "t", "sweep_id": "s", "verdict": "fine"},  # an unknown verdict
        {"RowKey": "t", "sweep_id": 7, "verdict": "healthy"},
        {"RowKey": None, "sweep_id": "s", "verdict": "healthy"},
        {"RowKey": "t", "verdict": "healthy"},
    ],
)
def test_a_result_row_that_does_not_read_is_no_result(row: dict[str, Any]) -> None:
    assert result_from_row(row) is None


def test_hostile_reasons_are_bounded_and_text_only() -> None:
    reasons = '["' + "x" * 5000 + '", 7, {"a": 1}' + ', "y"' * 50 + "]"
    found = result_from_row({"RowKey": "t", "sweep_id": "s", "verdict": "unhealthy", "reasons": reasons})
    assert found is not None and len(found.reasons) <= 10 and all(len(r) <= 300 for r in found.reasons)
    for bad in ("[" * 100_000, "{not json", '{"a": 1}', None, 5):
        parsed = result_from_row({"RowKey": "t", "sweep_id": "s", "verdict": "unhealthy", "reasons": bad})
        assert parsed is not None and parsed.reasons == () and parsed.troubled


async def test_a_tenant_whose_configuration_cannot_be_used_is_its_result_not_an_error() -> None:
    table = await _table()
    store = TenantStore(table)
    tenant = make_tenant(str(uuid.uuid4()), display_name="Contoso", contacts="it@contoso.example")
    assert await store.add(tenant)

    async def sweep_for(_: Any) -> Any:
        raise ConfigError(["WEBEX_ORG_ID: the tenant has no Webex org"])

    results = SweepResults(table)
    told: list[tuple[str, OperationalNotice, str | None]] = []

    def sender_for(whom: Any) -> Any:
        async def send(notice: OperationalNotice, *, once_key: str | None = None) -> list[str]:
            told.append((whom.tenant_id, notice, once_key))
            return ["email"]

        return send

    deps = TenantSweepDeps(store, results, sweep_for, sender_for)
    out = await sweep_tenant(deps, SweepMessage(tenant.tenant_id, "2026-11-30T01:00:00.000000Z"))
    assert out.outcome == "unreachable" and out.notified == ["email"]
    await sweep_tenant(deps, SweepMessage(tenant.tenant_id, "2026-11-30T01:01:00.000000Z"))
    assert [t[0] for t in told] == [tenant.tenant_id] * 2  # the tenant's own sender, nobody else's
    assert told[0][2] == told[1][2] and told[0][2] is not None  # one once-key: told once (marker row)
    assert "WEBEX_ORG_ID" in told[0][1].lines[-1]
    row = await results.get(tenant.tenant_id)
    assert row is not None and row.verdict == "unreachable" and "WEBEX_ORG_ID" in row.reasons[0]
    assert row.display_name == "Contoso"

    gone = await sweep_tenant(deps, SweepMessage(str(uuid.uuid4()), "2026-11-30T01:00:00.000000Z"))
    assert gone.outcome == "dropped"  # not (or no longer) in the table


class _Sender:
    def __init__(self) -> None:
        self.notices: list[OperationalNotice] = []
        self.answer = ["email"]

    async def __call__(self, notice: OperationalNotice, *, once_key: str | None = None) -> list[str]:
        self.notices.append(notice)
        return list(self.answer)


async def test_the_digest_goes_out_on_a_change_as_a_reminder_and_after_a_failed_send() -> None:
    table = await _table()
    send = _Sender()
    settings = load_settings(SETTINGS)
    deps = FanOutDeps(settings, Checkpoints(table, settings.tenant_id), TenantStore(table), None,  # type: ignore[arg-type]
                      SweepResults(table), send, "w")  # fmt: skip
    a, b = make_tenant(str(uuid.uuid4()), display_name="<i>A</i>"), make_tenant(str(uuid.uuid4()))
    listing = TenantListing((a, b), (("bad-row", "tenant id: must be the tenant's GUID"),))

    def board(**verdicts: str) -> Board:
        ids = {"a": a.tenant_id, "b": b.tenant_id}
        return Board({ids[k]: SweepResult(ids[k], "s", v, (f"why {k}",)) for k, v in verdicts.items()}, {})

    healthy = TenantListing((a, b))
    assert await send_digest(deps, healthy, board(a="healthy", b="healthy"), NOW) is None  # nothing to say
    assert await send_digest(deps, listing, board(a="unreachable", b="healthy"), NOW) == ["email"]
    notice = send.notices[-1]
    assert notice.kind == "provider_digest" and notice.title == "2 of 2 tenants in trouble"
    assert [(t.tenant_id, t.verdict) for t in notice.tenants] == sorted(
        [(a.tenant_id, "unreachable"), ("bad-row", "unreachable")]
    )
    assert await send_digest(deps, listing, board(a="unreachable", b="healthy"), NOW) is None  # the same set
    later = NOW + timedelta(hours=4)
    assert await send_digest(deps, listing, board(a="unreachable"), later) == ["email"]  # the reminder
    assert send.notices[-1].title.endswith("(reminder)")
    send.answer = []  # every channel failed: not remembered, tried again next tick
    changed = board(a="throttled", b="healthy")
    assert await send_digest(deps, listing, changed, later) == []
    send.answer = ["email"]
    assert await send_digest(deps, listing, changed, later) == ["email"]
    assert await send_digest(deps, healthy, board(a="healthy", b="healthy"), later) == ["email"]
    assert send.notices[-1].title == "No tenant in trouble (2 watched)" and send.notices[-1].tenants == ()
    disabled = TenantListing((a, make_tenant(b.tenant_id, enabled=False)))
    assert await send_digest(deps, disabled, board(a="healthy", b="unreachable"), later) is None  # not watched


def test_a_customer_tenant_never_watches_the_deployments_identity_app_id() -> None:
    """Control Hub's wizard creates the Identity app in each tenant under its own appId: a tenant's
    sweep finds it by name in the tenant (and pins it there), whatever the deployment configured."""
    from shared.core.tenant import tenant_settings

    root = load_settings({**SETTINGS, "WEBEX_IDENTITY_APP_ID": "0f6b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d"})
    assert root.catalogue.identity.app_id
    scoped = tenant_settings(root, make_tenant(str(uuid.uuid4())))
    assert scoped.webex_identity_app_id is None and not scoped.catalogue.identity.app_id
