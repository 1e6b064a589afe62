"""The one claim helper and the escalation, raced on the in-memory table (ETag 412s for real)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from typing import Any

from shared.incidents.claims import claim, write
from shared.incidents.lifecycle import Step, armed
from shared.incidents.store import Incident, IncidentStore
from tests.unit.incidents.conftest import OPENED, CountingChannel, incident


def _take_once(tag: str) -> Any:
    def take(c: Incident) -> tuple[Incident, str] | None:
        if c.reason is not None:
            return None
        return replace(c, reason=tag), tag

    return take


async def test_of_two_racing_claims_exactly_one_wins_and_the_loser_sees_the_winner(store: IncidentStore) -> None:
    inc, created = await store.open_or_attach(incident(), "eventgrid")
    assert created is True
    steps: list[str] = []
    with armed(lambda s: steps.append(str(s))):
        a, b = await asyncio.gather(
            claim(store, inc, _take_once("a"), step=Step.RESTORE_CLAIMED),
            claim(store, inc, _take_once("b"), step=Step.RESTORE_CLAIMED),
        )
    assert [a.prize, b.prize] == ["a", None]
    assert (a.won, b.won) == (True, False)
    assert a.incident is not None and b.incident is not None
    assert a.incident.reason == "a" and b.incident.reason == "a"
    assert steps == ["restore_claimed"]  # reported once: by the winner
    stored = await store.get_open(inc.tenant_id, "integration")
    assert stored is not None and stored.reason == "a"


async def test_a_claim_on_a_closed_incident_gets_nothing(store: IncidentStore) -> None:
    got = await claim(store, incident(), _take_once("a"), step=Step.RESTORE_CLAIMED)
    assert got.incident is None and got.prize is None and got.won is False


async def test_a_stale_known_copy_is_refused_by_the_etag_and_re_read(store: IncidentStore) -> None:
    inc, _ = await store.open_or_attach(incident(), "eventgrid")
    fresh = await write(store, inc, lambda c: replace(c, last_verdict="x"), step=Step.VERDICT_NOTED)
    got = await claim(store, inc, _take_once("late"), step=Step.RESTORE_CLAIMED, known=True)  # inc is stale
    assert got.won is True
    assert got.incident is not None and got.incident.last_verdict == "x" and got.incident.reason == "late"
    assert fresh.etag != inc.etag


async def test_write_leaves_another_incidents_row_alone(store: IncidentStore) -> None:
    other, _ = await store.open_or_attach(incident(incident_id="inc-other"), "timer")
    mine = incident()
    after = await write(store, mine, lambda c: replace(c, last_verdict="mine"), step=Step.VERDICT_NOTED)
    assert after.incident_id == "inc-other" and after.last_verdict is None
    stored = await store.get_open(other.tenant_id, "integration")
    assert stored is not None and stored.last_verdict is None


async def test_two_runs_racing_to_escalate_owe_exactly_one_escalation_notice(
    store: IncidentStore, settings: Any
) -> None:
    """Both runs read the row before either writes; the ETag refuses the second write and its
    re-read sees ``escalated_at``: one escalation, one notice per channel, the first run's time."""
    from shared.app.verification import escalate
    from shared.incidents.notices import NoticeDeps

    inc, _ = await store.open_or_attach(incident(state="verifying", verify_attempts=3), "eventgrid")
    webex, webhook = CountingChannel("webex"), CountingChannel("webhook")

    async def channels() -> list[CountingChannel]:
        return [webex, webhook]

    notices = NoticeDeps(settings, store, channels)
    t1, t2 = OPENED + timedelta(hours=25), OPENED + timedelta(hours=25, seconds=1)
    steps: list[str] = []
    with armed(lambda s: steps.append(str(s))):
        (_, won1), (_, won2) = await asyncio.gather(
            escalate(store, notices, inc, t1), escalate(store, notices, inc, t2)
        )
    assert [won1, won2] == [True, False]
    assert steps.count("escalated") == 1
    assert webex.sent == [inc.incident_id] and webhook.sent == [inc.incident_id]
    stored = await store.get_open(inc.tenant_id, "integration")
    assert stored is not None
    assert stored.state == "escalated" and stored.escalated_at == t1
    assert sorted(stored.deliveries) == ["webex/escalated", "webhook/escalated", "webhook/opened"]
    assert {d.status for d in stored.deliveries.values()} == {"sent"}
    assert [d.attempts for d in stored.deliveries.values()] == [1, 1, 1]


async def test_escalating_a_resolved_incident_is_nothing_to_do(store: IncidentStore, settings: Any) -> None:
    from shared.app.verification import escalate
    from shared.incidents.notices import NoticeDeps

    inc, _ = await store.open_or_attach(incident(state="resolved", resolved_at=OPENED), "eventgrid")
    sent = CountingChannel("webex")

    async def channels() -> list[CountingChannel]:
        return [sent]

    after, won = await escalate(store, NoticeDeps(settings, store, channels), inc, OPENED + timedelta(hours=25))
    assert won is False and after.state == "resolved" and sent.sent == []
