"""Simulated Graph as strict as the real one (issue 14), and the app coping with it: expired delta
links, the audit-log rate limit, late audit records, short and empty pages, advanced-query-only
operators, partial restores and replication lag. Each behaviour's source is named beside its code in
simulator/graph_behaviour.py and simulator/graph.py."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import incidents


async def _svc() -> Any:
    from shared.runtime import get_services

    return await get_services()


async def _tick() -> Any:
    from shared.safety_net import run_tick

    return await run_tick(await _svc())


async def _state(name: str) -> dict[str, Any]:
    return (await (await _svc()).checkpoints().get_state(name)).values


# ----------------------------------------------------------------------------- 1. delta links expire
@pytest.mark.parametrize("how", ["age-400", "age-410", "on-demand"])
async def test_an_expired_delta_link_starts_a_new_round_without_a_false_removal(sim: Any, how: str) -> None:
    await _tick()  # the first tick tracks both Webex service principals
    link = (await _state("sp-delta"))["link"]
    assert link
    if how == "on-demand":
        await sim.expire_delta_links()
    else:
        await sim.graph_behaviour(delta_expiry=how.split("-")[1])
        await sim.advance_clock(7 * 24 * 3600 + 60)  # past the 7-day lifetime of a delta link

    tick = await _tick()
    assert tick.removed == [] and await incidents() == [], "an expired link is no removal"
    renewed = (await _state("sp-delta"))["link"]
    assert renewed and renewed != link, "a new round replaced the dead link in the same tick"
    quiet = await _tick()
    assert not [p for p in quiet.problems if "delta" in p], quiet.problems

    await sim.delete("integration")
    after = await _tick()
    assert [r.split(":")[-1] for r in after.removed] == ["changed"], "the new link reports the deletion"
