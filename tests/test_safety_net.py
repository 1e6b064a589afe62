"""The timer's safety net against the simulator and Azurite: audit-log poll from a checkpoint (who
did it, overlap, dedupe, no advance on failure), the service-principal delta (soft vs hard), the
lease that keeps runs from overlapping and the past-due gap."""

from __future__ import annotations

from typing import Any

import pytest

from shared.core.errors import TransientError
from tests.helpers import incidents


async def _svc() -> Any:
    from shared.app.runtime import get_services

    return await get_services()


async def _tick(past_due: bool = False) -> Any:
    from shared.app.sweep import run_tick

    return await run_tick(await (await _svc()).sweep_deps(), past_due=past_due)


async def _state(name: str) -> dict[str, Any]:
    return (await (await _svc()).checkpoints().get_state(name)).values


async def test_audit_poll_names_who_did_it_and_dedupes_the_overlap(sim: Any) -> None:
    (record,) = await sim.delete("integration", actor="mallory@contoso.example")
    first = await _tick()
    assert first.ran and first.audit_records >= 1
    (inc,) = await incidents()
    assert inc.kind == "integration_deleted"
    assert inc.initiator_label == "mallory@contoso.example", "the audit poll knows who did it"
    assert inc.first_record_id == record["id"]
    assert {"graph", "health"} <= set(inc.sources)
    polls = await sim.requests(path="/auditLogs/directoryAudits$", method="GET")
    assert polls and polls[0]["query"]["$filter"].startswith("activityDateTime ge ")
    assert polls[0]["query"]["$orderby"] == "activityDateTime asc"
    since = (await _state("audit-poll"))["since"]

    second = await _tick()  # re-reads the overlap window: the same record, deduplicated
    assert [o.outcome for o in second.outcomes if o.record_id == record["id"]] == ["duplicate"]
    assert (await _state("audit-poll"))["since"] >= since
    assert len(await sim.requests(path="/sendMail$", method="POST")) == 1, "one e-mail for the incident"


async def test_audit_poll_fetches_only_the_activities_the_classifier_acts_on(sim: Any) -> None:
    """The poll narrows server-side: an unrelated change in the tenant, and an unwatched activity on
    a Webex app itself, are not even fetched; the deletion is. The filter is built from the rules."""
    from shared.detect.classify import WATCHED_ACTIVITIES

    noise = await sim.activity("Update user", actor="hr@contoso.example")
    owner = await sim.activity("Add owner to service principal", app="integration")
    (deleted,) = await sim.delete("integration", actor="mallory@contoso.example")
    tick = await _tick()

    (poll,) = await sim.requests(path="/auditLogs/directoryAudits$", method="GET")
    flt = poll["query"]["$filter"]
    assert flt.startswith("activityDateTime ge ") and " and (" in flt
    assert [f"activityDisplayName eq '{a}'" in flt for a in WATCHED_ACTIVITIES] == [True] * len(WATCHED_ACTIVITIES)
    assert "Update user" not in flt and "Add owner" not in flt
    assert tick.audit_records == 1, "only the deletion came back from Graph"
    seen = {o.record_id for o in tick.outcomes}
    assert deleted["id"] in seen and noise["id"] not in seen and owner["id"] not in seen
    (inc,) = await incidents()
    assert inc.kind == "integration_deleted" and inc.first_record_id == deleted["id"]


async def test_checkpoint_does_not_advance_past_unprocessed_records(sim: Any) -> None:
    await sim.delete("integration", actor="mallory@contoso.example")
    await sim.add_fault(r"/sendMail$", method="POST", status=500, times=None)
    with pytest.raises(TransientError):
        await _tick()
    assert "since" not in await _state("audit-poll"), "a page whose records failed is read again"

    await sim.clear_faults()
    await _tick()
    assert (await _state("audit-poll"))["since"]
    (inc,) = await incidents()
    assert inc.initiator_label == "mallory@contoso.example"
    assert len((await sim.state())["sent_mails"]) == 1


@pytest.mark.parametrize(("hard", "reason", "kind"), [(False, "changed", "integration_deleted"),
                                                     (True, "deleted", "integration_hard_deleted")])  # fmt: skip
async def test_delta_tells_soft_from_hard(sim: Any, hard: bool, reason: str, kind: str) -> None:
    healthy = await _tick()
    assert healthy.health is not None and healthy.health.healthy
    tracked = await _state("sp-delta")
    assert tracked["link"], "the delta link is kept in Table storage"
    deltas = await sim.requests(path="/servicePrincipals/delta", method="GET")
    assert deltas[0]["query"]["$filter"].count("id eq '") == 2, "filtered to the two Webex SPs by id"

    sps = (await sim.state())["service_principals"]
    integration = next(s for s in sps if s["appId"] == "90db942a-c1eb-4e8d-82e4-eebf64a7e2ae")
    await sim.delete("integration", hard=hard)
    tick = await _tick()
    assert tick.removed == [f"integration:{integration['id'].lower()}:{reason}"]
    delta_outcome = next(o for o in tick.outcomes if o.record_id.startswith("health:"))
    assert delta_outcome.kind == kind
    (inc,) = await incidents()
    assert inc.kind == kind and inc.soft_or_hard == ("hard" if hard else "soft")
    assert (await _state("sp-delta"))["link"] != tracked["link"], "the new delta link is stored"


async def test_the_timers_kinds_come_from_the_rules_table(sim: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """One place decides a kind: a changed rule row changes what the delta's removal and the
    presence check open, as it changes what an audit record opens (shared/detect/findings.py)."""
    from dataclasses import replace

    from shared.core.models import Kind
    from shared.detect import classify as rules

    patched = tuple(
        replace(r, kind=Kind.INTEGRATION_HARD_DELETED) if r.name == "integration-soft-deleted" else r
        for r in rules.RULES
    )
    monkeypatch.setattr(rules, "RULES", patched)
    await _tick()  # tracks the delta
    await sim.delete("integration")  # a soft delete
    tick = await _tick()
    assert tick.health is not None
    removal = [o.kind for o in tick.outcomes if o.record_id.startswith("health:")]
    presence = [o.kind for o in tick.health.outcomes]
    assert (removal, presence) == (["integration_hard_deleted"], ["integration_hard_deleted"])
    (inc,) = await incidents()
    assert inc.kind == "integration_hard_deleted"


async def test_overlapping_run_skips_on_the_lease(sim: Any) -> None:
    from datetime import timedelta

    held = await (await _svc()).checkpoints().acquire("health", "another-run", timedelta(minutes=10))
    assert not hasattr(held, "reason")
    await sim.clear_requests()
    tick = await _tick()
    assert not tick.ran and tick.skipped == "held"
    assert await sim.requests(path="/graph/") == [], "a skipped run calls nothing"


async def test_past_due_tick_right_after_a_run_is_skipped(sim: Any) -> None:
    from shared.core.clock import clock

    assert (await _tick()).ran
    await sim.clear_requests()
    burst = await _tick(past_due=True)
    assert not burst.ran and burst.skipped == "too_soon"
    assert await sim.requests(path="/graph/") == []
    clock.advance(31)
    late = await _tick(past_due=True)
    assert late.ran, "a past-due tick after the gap runs once"
    assert await sim.requests(path="/auditLogs/directoryAudits$")


async def test_missing_consent_grant_alone_opens_a_consent_incident(sim: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The SP is present and enabled but its admin-consent grant is gone, and Webex is not asked
    (no Webex token configured): the grant check is the only witness and still opens the incident."""
    from shared.app.health_check import run_health_check
    from shared.app.runtime import reset_services
    from shared.core.settings import reset_settings

    monkeypatch.delenv("WEBEX_ACCESS_TOKEN", raising=False)
    reset_settings()
    await reset_services()
    await sim.revoke(actor="mallory@contoso.example")

    outcome = await run_health_check(await (await _svc()).health_check_deps())
    verdicts = {r.name: r.verdict for r in outcome.report.results}
    assert verdicts["graph.service_principal.integration"] == "healthy"
    assert verdicts["graph.consent_grant.integration"] == "consent_missing"
    assert verdicts["webex.sync_status"] == "not_configured"
    (inc,) = await incidents()
    assert (inc.kind, inc.app_key) == ("consent_revoked", "integration")
