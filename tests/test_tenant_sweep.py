"""Provider mode's sweep against Azurite and the simulator (issue 17 points 4-6): the timer fans out
one message per tenant (never a second while one waits), the queue trigger sweeps one tenant as that
tenant, and one tenant's throttling, outage, revoked consent or removal stays that tenant's; each
sweep's result row feeds the provider's digest.

The simulated tenants are worlds of their own (``sim.add_tenants``), reached by the provider app's
token for each; time is the injected clock (nothing waits for real).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import azure.functions as func
import pytest

from tests.helpers import receive_messages
from tests.notice_helpers import delivered, notice_text

SWEEP_QUEUE = "webex-tenant-sweep"


@pytest.fixture
async def provider(sim: Any, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Any]:
    """Provider mode on a fresh tenants table and an empty sweep queue."""
    import contextlib
    import os

    from azure.storage.queue.aio import QueueClient

    from shared.app.runtime import reset_services
    from shared.core.settings import reset_settings

    monkeypatch.setenv("TENANTS_TABLE", "ten" + uuid.uuid4().hex[:12])
    monkeypatch.setenv("TENANCY_MODE", "provider")
    monkeypatch.setenv("PROVIDER_APP_CLIENT_ID", (await sim.state())["config"]["provider_client_id"])
    assert os.environ["WEBEX_IDENTITY_APP_ID"]  # the deployment's own: never a customer tenant's
    reset_settings()
    await reset_services()
    async with QueueClient.from_connection_string(os.environ["AzureWebJobsStorage"], SWEEP_QUEUE) as q:
        with contextlib.suppress(Exception):
            await q.clear_messages()
    yield sim


async def _svc() -> Any:
    from shared.app.runtime import get_services

    return await get_services()


async def _add(sim: Any, count: int, *, names: list[str] | None = None) -> list[str]:
    """``count`` simulated tenants in the tenants table, each with its own contact."""
    from shared.core.tenant import make_tenant

    store = (await _svc()).tenant_store()
    await store.ensure()
    ids = []
    for n, world in enumerate(await sim.add_tenants(count)):
        tid = world["tenant_id"]
        name = names[n] if names else f"Customer {n}"
        assert await store.add(make_tenant(tid, display_name=name, contacts=f"it@{tid[:8]}.example"))
        ids.append(tid)
    return ids


async def _fan_out() -> Any:
    from shared.app.tenant_sweep import fan_out

    return await fan_out((await _svc()).fan_out_deps())


async def _messages(expect: int) -> list[func.QueueMessage]:
    return await receive_messages(SWEEP_QUEUE, wait=10.0 if expect else 0.0, expect=expect)


async def _sweep(app_functions: dict[str, Any], msg: func.QueueMessage) -> None:
    await app_functions["tenant_sweep"].get_user_function()(msg)


async def _sweep_each(app_functions: dict[str, Any], msgs: list[func.QueueMessage]) -> list[func.QueueMessage]:
    """Run each message's sweep; the messages whose sweep raised :class:`TransientError` (the host
    would retry them), in order."""
    from shared.core.errors import TransientError

    failed = []
    for msg in msgs:
        try:
            await _sweep(app_functions, msg)
        except TransientError:
            failed.append(msg)
    return failed


async def _result(tenant_id: str) -> Any:
    from shared.clients.sweep_results import SweepResults

    return await SweepResults((await _svc()).table()).get(tenant_id)


async def _mail_to(sim: Any) -> list[tuple[set[str], str]]:
    """(recipients, text) of every mail the simulator accepted."""
    import base64
    import email
    import email.policy
    from email.utils import getaddresses

    out = []
    for request in (await delivered(sim))["email"]:
        msg = email.message_from_bytes(base64.b64decode(request["text"]), policy=email.policy.default)
        to = {address.lower() for _, address in getaddresses([str(msg["To"] or "")])}
        out.append((to, notice_text("email", request)))
    return out


async def test_fan_out_sends_one_message_per_enabled_tenant_and_never_a_second_while_one_waits(
    provider: Any, app_functions: dict[str, Any]
) -> None:
    from shared.clients.sweep_results import SweepResults
    from shared.core.clock import clock
    from shared.core.tenant import make_tenant

    a, b = await _add(provider, 2)
    off = str(uuid.uuid4())
    assert await (await _svc()).tenant_store().add(make_tenant(off, enabled=False))

    from azure.functions.timer import TimerRequest

    await app_functions["health_check"].get_user_function()(TimerRequest(past_due=False))  # the timer fans out
    peek = [m.get_body().decode() for m in await _messages(2)]
    from shared.clients.sweep_queue import SweepMessage

    assert sorted(SweepMessage.from_json(body).tenant_id for body in peek) == sorted([a, b])  # not the disabled one
    assert await provider.requests(path="/graph/") == []  # the timer sweeps nothing itself
    await (await _svc()).tenant_store().remove(off)
    await SweepResults((await _svc()).table()).forget_all([a, b])
    clock.advance(60)
    first = await _fan_out()
    assert first.ran and sorted(first.sent) == sorted([a, b]) and first.failed == []
    clock.advance(60)  # the next tick: both messages still wait
    second = await _fan_out()
    assert second.sent == [] and sorted(second.waiting) == sorted([a, b])
    msgs = await _messages(2)
    assert len(msgs) == 2  # not four
    for msg in msgs:
        await _sweep(app_functions, msg)
    assert (await _result(a)).verdict == "healthy", (await _result(a)).reasons
    assert (await _result(b)).verdict == "healthy"
    clock.advance(60)
    third = await _fan_out()  # both swept: both sent again, none waiting
    assert sorted(third.sent) == sorted([a, b]) and third.waiting == []
    clock.advance(11 * 60)  # messages lost (poisoned, expired): sent again after their TTL
    assert sorted((await _fan_out()).sent) == sorted([a, b])


async def test_one_tenant_sweep_runs_as_that_tenant(provider: Any, app_functions: dict[str, Any]) -> None:
    a, b = await _add(provider, 2)
    await provider.for_tenant(a).delete("integration", actor="mallory@a.example")
    await _fan_out()
    for msg in await _messages(2):
        await _sweep(app_functions, msg)

    broken, fine = await _result(a), await _result(b)
    assert broken.verdict == "unhealthy" and any("integration" in r for r in broken.reasons)
    assert fine.verdict == "healthy"
    incidents = await (await _svc()).store().list_incidents(a)
    assert [i.app_key for i in incidents] == ["integration"]
    assert incidents[0].initiator_label == "mallory@a.example"  # the audit log was read: a change was found
    assert await (await _svc()).store().list_incidents(b) == []
    mails = [(to, text) for to, text in await _mail_to(provider) if "directory sync" in text]
    assert mails and all(to == {f"it@{a[:8]}.example"} for to, _ in mails)  # a's contacts only
    seen = {r["token_tenant"] for r in await provider.requests(path="/graph/") if r.get("token_tenant")}
    assert {a, b} <= seen


async def test_a_throttled_tenant_waits_alone_and_returns_at_once_until_then(
    provider: Any, app_functions: dict[str, Any], clock_waits: list[float]
) -> None:
    from shared.core.clock import clock

    a, b = await _add(provider, 2)
    await provider.throttle_tenant(a, 600)
    await _fan_out()
    msgs = await _messages(2)
    started = clock.now()
    await asyncio.gather(*(_sweep(app_functions, m) for m in msgs))  # both in one run
    assert sum(clock_waits) < 10  # nobody waited out the 600 s (the injected clock records every wait)
    throttled, fine = await _result(a), await _result(b)
    assert throttled.verdict == "throttled" and fine.verdict == "healthy"
    assert throttled.not_before is not None and 590 <= (throttled.not_before - started).total_seconds() <= 610

    await provider.clear_requests()
    clock.advance(120)
    out = await _fan_out()
    assert out.sent == [b] and out.throttled == [a]  # the timer does not even send it one
    from shared.app.tenant_sweep import sweep_tenant
    from shared.clients.sweep_queue import SweepMessage

    again = await sweep_tenant((await _svc()).tenant_sweep_deps(), SweepMessage(a, out.sweep_id))
    assert again.outcome == "throttled"  # a message that still comes returns at once
    assert not [r for r in await provider.requests(path="/graph/") if r.get("token_tenant") == a]


async def test_consent_revoked_in_one_tenant_tells_only_its_contacts_once(
    provider: Any, app_functions: dict[str, Any]
) -> None:
    from shared.core.clock import clock

    a, b = await _add(provider, 2)
    await provider.provider_consent(a, False)
    for _ in range(2):  # two sweeps: told once
        await _fan_out()
        for msg in await _messages(2):
            await _sweep(app_functions, msg)  # never raises
        clock.advance(60)
    lost, fine = await _result(a), await _result(b)
    assert lost.verdict == "unreachable" and "AADSTS" in lost.reasons[0]
    assert fine.verdict == "healthy"
    mails = await _mail_to(provider)
    told = [(to, text) for to, text in mails if "cannot reach your Microsoft Entra tenant" in text]
    assert len(told) == 1 and told[0][0] == {f"it@{a[:8]}.example"}
    assert b not in told[0][1]


async def test_a_tenant_removed_mid_sweep_is_dropped_without_error(
    provider: Any, app_functions: dict[str, Any]
) -> None:
    a, b = await _add(provider, 2)
    await _fan_out()
    assert await (await _svc()).tenant_store().remove(a)  # offboarded after the tick
    await provider.remove_tenant(a)
    for msg in await _messages(2):
        await _sweep(app_functions, msg)
    assert await _result(a) is None and (await _result(b)).verdict == "healthy"
    assert not [m for m, _ in [(to, t) for to, t in await _mail_to(provider)] if f"it@{a[:8]}.example" in m]


async def test_a_tenant_removed_while_its_sweep_runs_is_dropped_not_told(
    provider: Any, app_functions: dict[str, Any]
) -> None:
    """The row goes while the sweep is under way: the token refusal that follows is expected."""
    from shared.app.tenant_sweep import sweep_tenant
    from shared.clients.sweep_queue import SweepMessage

    (a,) = await _add(provider, 1)
    svc = await _svc()
    deps = svc.tenant_sweep_deps()

    async def sweep_for(tenant: Any) -> Any:
        built = await deps.sweep_for(tenant)
        await svc.tenant_store().remove(a)  # removed after its row was read
        await provider.remove_tenant(a)
        return built

    from dataclasses import replace

    out = await sweep_tenant(replace(deps, sweep_for=sweep_for), SweepMessage(a, "2026-11-30T00:00:00.000000Z"))
    assert out.outcome == "dropped" and await _result(a) is None
    assert await _mail_to(provider) == []


async def test_a_5xx_outage_raises_for_the_queue_to_retry_that_message_only(
    provider: Any, app_functions: dict[str, Any]
) -> None:
    a, b = await _add(provider, 2)
    await provider.add_fault(f"^/{a}/oauth2/v2\\.0/token$", method="POST", status=503, times=None)
    await _fan_out()
    failed = await _sweep_each(app_functions, await _messages(2))
    assert len(failed) == 1 and a in failed[0].get_body().decode()
    assert (await _result(a)).verdict == "unreachable" and (await _result(b)).verdict == "healthy"
    from shared.core.clock import clock

    clock.advance(60)
    again = await _fan_out()
    assert again.sent == [b] and again.waiting == [a]  # the queue retries a's message: no second one


async def test_audit_reads_come_on_a_change_or_the_cadence_from_the_shared_budget(
    provider: Any, app_functions: dict[str, Any]
) -> None:
    from shared.app.tenant_sweep import sweep_tenant
    from shared.clients.rate_budget import APP_SCOPE
    from shared.clients.sweep_queue import SweepMessage
    from shared.core.clock import clock, format_timestamp

    (a,) = await _add(provider, 1)
    svc = await _svc()

    async def sweep() -> Any:
        return await sweep_tenant(svc.tenant_sweep_deps(), SweepMessage(a, format_timestamp(clock.now())))

    from shared.app.audit_cadence import stagger

    async def advance(seconds: float) -> None:
        # Both clocks: the simulator stamps audit records with its own, and the audit query's window
        # starts at the project clock's last read minus the overlap — moved apart by more than the
        # overlap (20 min), the record would fall before the window.
        clock.advance(seconds)
        await provider.advance_clock(seconds)

    # Start just past the tenant's staggered slot (its offset comes from its random id), so the
    # next slot is ~10 minutes away whatever the id: one minute later is then never due.
    period = svc.settings.audit_cadence_minutes * 60
    into_slot = (clock.now().timestamp() - stagger(a, period)) % period
    await advance((period - into_slot + 5) % period)
    first = await sweep()
    assert first.verdict == "healthy" and first.audit_reads == 1  # never read: due at once
    await advance(60)
    assert (await sweep()).audit_reads == 0  # nothing changed, the cadence not due
    await advance(10 * 60)
    assert (await sweep()).audit_reads == 1  # its staggered slot passed
    await advance(60)
    from shared.clients.rate_budget import PARTITION

    spent = clock.now().timestamp() + 60  # other tenants spent the app's budget for the next minute
    await svc.table().upsert({"PartitionKey": PARTITION, "RowKey": APP_SCOPE, "tokens": 0.0, "at": spent})
    await provider.for_tenant(a).disable("integration", actor="eve@a.example")
    refused = await sweep()
    assert refused.verdict == "unhealthy" and refused.audit_reads == 0 and refused.audit_refused == 1
    incident = (await svc.store().list_incidents(a))[0]
    assert incident.initiator_kind == "unknown"  # who did it is not known yet
    await advance(61 + 11)  # the budget refills; the open incident without its actor asks for the read
    later = await sweep()
    assert later.audit_reads >= 1
    assert (await svc.store().list_incidents(a))[0].initiator_label == "eve@a.example"


async def test_the_digest_lists_troubled_tenants_once_per_change_and_reminds(
    provider: Any, app_functions: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.core.clock import clock

    hostile = "<b>Evil</b> **Corp** [x](https://evil.example)"
    a, b = await _add(provider, 2, names=[hostile, "Fine Inc"])
    await provider.provider_consent(a, False)

    async def tick() -> Any:
        out = await _fan_out()
        for msg in await _messages(len(out.sent)):
            await _sweep(app_functions, msg)
        clock.advance(60)
        return out

    assert (await tick()).digest is None  # nothing known yet
    await provider.clear_requests()
    assert (await tick()).digest == ["email", "webex"]  # the last sweep found a in trouble

    provider_mails = [(to, t) for to, t in await _mail_to(provider) if to == {"it-admins@contoso.example"}]
    assert len(provider_mails) == 1
    text = provider_mails[0][1]
    assert "1 of 2 tenants in trouble" in text and a in text and b not in text and "unreachable" in text
    html = text[text.index("<!DOCTYPE") :]
    assert "<b>Evil</b>" not in html and "&lt;b&gt;Evil&lt;/b&gt;" in html  # a display name is data
    webex = (await delivered(provider))["webex"][-1]["json"]["markdown"]
    assert "\\*\\*Corp\\*\\*" in webex and "[x](https://evil.example)" not in webex

    assert (await tick()).digest is None  # unchanged: no second digest
    clock.advance(4 * 3600)
    assert (await tick()).digest == ["email", "webex"]  # the reminder
    await provider.provider_consent(a, True)
    await tick()  # a is swept healthy again
    cleared = await tick()
    assert cleared.digest == ["email", "webex"]
    last = [t for to, t in await _mail_to(provider) if to == {"it-admins@contoso.example"}][-1]
    assert "No tenant in trouble" in last


async def _incident_in(provider: Any, app_functions: dict[str, Any], tenant: str) -> Any:
    """A soft delete in ``tenant`` found by its sweep: the open incident."""
    from shared.app.tenant_sweep import sweep_tenant
    from shared.clients.sweep_queue import SweepMessage
    from shared.core.clock import clock, format_timestamp

    await provider.for_tenant(tenant).delete("integration", actor="mallory@a.example")
    svc = await _svc()
    out = await sweep_tenant(svc.tenant_sweep_deps(), SweepMessage(tenant, format_timestamp(clock.now())))
    assert out.verdict == "unhealthy"
    (incident,) = await svc.store().list_incidents(tenant)
    return incident


async def test_a_tenants_verification_runs_as_that_tenant(provider: Any, app_functions: dict[str, Any]) -> None:
    a, b = await _add(provider, 2)
    incident = await _incident_in(provider, app_functions, a)
    await provider.for_tenant(a).restore("integration")
    (msg,) = await receive_messages("webex-verify", wait=5.0, expect=1)
    assert a in msg.get_body().decode()
    await provider.clear_requests()
    await app_functions["verify_incident"].get_user_function()(msg)

    assert await (await _svc()).store().get_closed(a, incident.incident_id) is not None
    seen = {r["token_tenant"] for r in await provider.requests(path="/graph/") if r.get("token_tenant")}
    assert a in seen and b not in seen


async def test_a_verification_for_a_removed_tenant_is_dropped(provider: Any, app_functions: dict[str, Any]) -> None:
    (a,) = await _add(provider, 1)
    incident = await _incident_in(provider, app_functions, a)
    (msg,) = await receive_messages("webex-verify", wait=5.0, expect=1)
    assert await (await _svc()).tenant_store().remove(a)  # offboarded while its incident was open
    await provider.clear_requests()
    await app_functions["verify_incident"].get_user_function()(msg)  # consumed: no error, no retry

    assert not [r for r in await provider.requests(path="/graph/") if r.get("token_tenant") == a]
    still = await (await _svc()).store().get_open(a, "integration")
    assert still is not None and still.incident_id == incident.incident_id and still.verify_attempts == 0


async def test_result_rows_round_trip_and_are_forgotten(any_table: Any) -> None:
    from datetime import UTC, datetime, timedelta

    from shared.clients.sweep_results import RESULTS, SweepResult, SweepResults

    results = SweepResults(any_table)
    tid = str(uuid.uuid4())
    now = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
    until = now + timedelta(minutes=10)
    row = SweepResult(tid, "2026-11-30T01:00:00.000000Z", "throttled", ("r",) * 20, "N", now, until)
    await results.put(row)
    await results.mark_queued([tid], "2026-11-30T01:01:00.000000Z", now)
    board = await results.board()
    got = board.results[tid]
    assert (got.verdict, got.not_before, got.finished_at, len(got.reasons)) == ("throttled", row.not_before, now, 10)
    assert board.queued[tid] == ("2026-11-30T01:01:00.000000Z", now)
    await any_table.upsert({"PartitionKey": RESULTS, "RowKey": "junk", "verdict": 3})
    assert set((await results.board()).results) == {tid}  # a row that does not read hides no other
    await results.forget(tid)
    assert (await results.board()).results == {} and (await results.board()).queued == {}


async def test_check_now_on_a_tenants_incident_runs_as_that_tenant(
    provider: Any, app_functions: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.test_actions import call, links, links_on, request

    await links_on(monkeypatch)  # resets settings and services: provider mode stays (env)
    a, b = await _add(provider, 2)
    incident = await _incident_in(provider, app_functions, a)
    check, _ = await links(incident)
    await provider.for_tenant(a).restore("integration")
    await provider.clear_requests()
    status, html, _ = await call(app_functions, request("POST", check, {"incident": incident.incident_id,
                                                                          "action": "check_now"}))  # fmt: skip
    assert status == 200 and "Fixed" in html, html
    seen = {r["token_tenant"] for r in await provider.requests(path="/graph/") if r.get("token_tenant")}
    assert a in seen and b not in seen

    (c,) = await _add(provider, 1)
    other = await _incident_in(provider, app_functions, c)
    check, _ = await links(other)
    assert await (await _svc()).tenant_store().remove(c)  # offboarded: its link checks nothing any more
    await provider.clear_requests()
    status, html, _ = await call(app_functions, request("POST", check, {"incident": other.incident_id,
                                                                          "action": "check_now"}))  # fmt: skip
    assert status in (200, 404, 410) and "Fixed" not in html
    assert not [r for r in await provider.requests(path="/graph/") if r.get("token_tenant") == c]


async def test_the_deployments_configuration_problems_go_to_the_provider_not_to_tenants(
    provider: Any, app_functions: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tenant without a Webex room of its own is no configuration problem of the tenant's; a
    setting the deployment lacks is told once, to the provider, by the timer."""
    from shared.app.runtime import reset_services
    from shared.core.settings import reset_settings

    monkeypatch.delenv("WEBEX_ROOM_ID", raising=False)  # the bot token stays: half a channel
    reset_settings()
    await reset_services()
    await _add(provider, 2)
    for _ in range(2):
        await _fan_out()
        for msg in await _messages(2):
            await _sweep(app_functions, msg)
    told = [(to, text) for to, text in await _mail_to(provider) if "misconfigured" in text]
    assert [to for to, _ in told] == [{"it-admins@contoso.example"}]  # once, to the provider only
    assert "WEBEX_ROOM_ID" in told[0][1]


class _StorageCalls:
    """The Table storage requests this process sends (azure-core's aiohttp transport), as
    ``METHOD path`` with the tenant id shortened, while counting."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import os

        from azure.core.pipeline.transport import AioHttpTransport

        conn = dict(part.split("=", 1) for part in os.environ["AzureWebJobsStorage"].split(";") if "=" in part)
        self.tables, self.sent = conn["TableEndpoint"].rstrip("/"), []
        self.counting = False
        real, calls = AioHttpTransport.send, self

        async def send(transport: Any, request: Any, **kwargs: Any) -> Any:
            if calls.counting and request.url.startswith(calls.tables):
                calls.sent.append(f"{request.method} {request.url[len(calls.tables) :].split('?')[0]}")
            return await real(transport, request, **kwargs)

        monkeypatch.setattr(AioHttpTransport, "send", send)


async def test_a_quiet_tenants_steady_sweep_makes_few_storage_requests(
    provider: Any, app_functions: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Storage round trips are most of a tenant sweep's CPU (issue 17: 1,000 tenants a minute on one
    instance). A quiet tenant's sweep, once its first one is done, sends 7 Table requests: its tenants
    row; its lease and state rows in one partition query (remembered for the sweep: the audit cursor,
    the cadence, the delta link, the Identity app's pin, its not_before, read many times); the
    lease taken; the delta link saved; its open incidents in one query; its result row; the lease
    released. A sweep whose audit cadence is due adds 3: the app's budget row read and written (the
    tenant's own bucket and the cadence ride on the audit cursor row), and that cursor saved."""
    from shared.app.audit_cadence import stagger
    from shared.app.tenant_sweep import sweep_tenant
    from shared.clients.sweep_queue import SweepMessage
    from shared.core.clock import clock, format_timestamp

    (a,) = await _add(provider, 1)
    svc = await _svc()
    calls = _StorageCalls(monkeypatch)

    async def sweep() -> tuple[Any, list[str]]:
        calls.sent, calls.counting = [], True
        try:
            out = await sweep_tenant(svc.tenant_sweep_deps(), SweepMessage(a, format_timestamp(clock.now())))
        finally:
            calls.counting = False
        return out, [c.replace(a, "T") for c in calls.sent]

    async def advance(seconds: float) -> None:
        clock.advance(seconds)
        await provider.advance_clock(seconds)

    period = svc.settings.audit_cadence_minutes * 60  # just past the tenant's slot (see the cadence test)
    await advance((period - (clock.now().timestamp() - stagger(a, period)) % period + 5) % period)
    first, _ = await sweep()
    assert first.verdict == "healthy" and first.audit_reads == 1
    await advance(60)
    quiet, sent = await sweep()
    assert quiet.verdict == "healthy" and quiet.audit_reads == 0
    assert len(sent) <= 7, "\n".join(sent)
    await advance(10 * 60)
    due, sent = await sweep()
    assert due.verdict == "healthy" and due.audit_reads == 1
    assert len(sent) <= 10, "\n".join(sent)
