"""Simulated Graph as strict as the real one (issue 14), and the app coping with it: expired delta
links, the audit-log rate limit, late audit records, short and empty pages, advanced-query-only
operators, partial restores and replication lag. Each behaviour's source is named beside its code in
simulator/graph_behaviour.py and simulator/graph.py."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import incidents


async def _svc() -> Any:
    from shared.app.runtime import get_services

    return await get_services()


async def _tick() -> Any:
    from shared.app.sweep import run_tick

    return await run_tick(await (await _svc()).sweep_deps())


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


# ----------------------------------------------------- 2 and 9. audit-log rate limit, short and empty pages
AUDITS = "/auditLogs/directoryAudits$"


@pytest.fixture
async def both_clocks(sim: Any) -> Any:
    """A paced wait moves the app's clock and the simulator's together (nothing sleeps)."""
    from shared.core.clock import clock

    async def advance(seconds: float) -> None:
        clock.advance(seconds)
        await sim.advance_clock(seconds)

    clock.sleeper = advance
    return advance


async def _noise(sim: Any, count: int) -> None:
    """Watched-activity records that change nothing (an "Update service principal" of no property)."""
    for _ in range(count):
        await sim.activity("Update service principal", app="identity")


async def test_a_long_poll_paces_itself_and_continues_from_its_cursor(sim: Any, both_clocks: Any) -> None:
    """30 pages (one record each): real Graph allows 5 audit requests per 10 s. The poll waits
    (injected clock) instead of drawing a 429, reads what its wait budget allows, keeps the next link
    and reaches the deletion on the next tick, so the incident still names who did it."""
    await sim.graph_behaviour(audit_page_sizes=[1])
    await _noise(sim, 29)
    await sim.delete("integration", actor="mallory@contoso.example")

    first = await _tick()
    assert 20 <= first.audit_records < 30, "a tick waits at most AUDIT_PACE_BUDGET for the rate limit"
    assert (await _state("audit-poll"))["next"], "the cursor is kept mid-way"
    await _tick()
    (inc,) = await incidents()
    assert inc.initiator_label == "mallory@contoso.example"
    polls = await sim.requests(path=AUDITS, method="GET")
    assert [p["status"] for p in polls] == [200] * 30, "paced: never throttled, every page read once"
    assert (await _state("audit-poll"))["next"] == "", "the round is complete"


async def test_a_throttled_poll_keeps_its_cursor_and_continues(sim: Any, both_clocks: Any) -> None:
    """Another reader of the same app registration used part of the window: Graph answers 429 with
    Retry-After mid-poll. The tick does not fail; the next one continues from the page it reached."""
    await sim.graph_behaviour(audit_page_sizes=[1], audit_rate_limit=2)
    await _noise(sim, 3)
    await sim.delete("integration", actor="mallory@contoso.example")

    first = await _tick()
    assert first.audit_records == 2 and any("throttled" in p for p in first.problems), first.problems
    assert (await _state("audit-poll"))["next"]
    await both_clocks(11)
    await _tick()
    (inc,) = await incidents()
    assert inc.initiator_label == "mallory@contoso.example"
    throttled = [p for p in await sim.requests(path=AUDITS, method="GET") if p["status"] == 429]
    assert throttled and throttled[0]["status"] == 429


async def test_empty_pages_with_a_next_link_do_not_stop_the_poll(sim: Any, both_clocks: Any) -> None:
    """Reporting APIs may answer EMPTY pages that still carry @odata.nextLink. 60 of them come
    before the deletion: the poll reads on across ticks (page budget, cursor) until it is found."""
    await sim.graph_behaviour(audit_page_sizes=[0] * 60 + [100], audit_rate_limit=0)
    await sim.delete("integration", actor="mallory@contoso.example")
    ticks = 0
    while ticks < 5 and not [i for i in await incidents() if i.initiator_label == "mallory@contoso.example"]:
        await _tick()
        ticks += 1
    (inc,) = await incidents()
    assert inc.initiator_label == "mallory@contoso.example", "found within five ticks"
    assert ticks > 1, "more than one tick's page budget of empty pages came first"
    assert len(await sim.requests(path=AUDITS, method="GET")) == 61, "no page read twice"


# ------------------------------------------------------------------------- 3. audit-log latency
async def test_a_record_twelve_minutes_late_still_names_who_did_it(sim: Any) -> None:
    """The record reaches directoryAudits 12 min after the deletion; ticks run every minute. The
    state check opens the incident at once; the late record, read within the overlap, adds who."""
    from shared.core.clock import clock

    await sim.graph_behaviour(audit_delay="fixed", audit_delay_seconds=12 * 60)
    await sim.delete("integration", actor="mallory@contoso.example")
    for _ in range(14):
        await _tick()
        clock.advance(60)
        await sim.advance_clock(60)
    (inc,) = await incidents()
    assert inc.initiator_label == "mallory@contoso.example"
    assert "graph" in inc.sources


# --------------------------------------------------------- 8. restore: grants, app roles, replication lag
RESTORE_PATH = r"/directory/deletedItems/[0-9a-fA-F-]+/restore$"


async def _delete_and_restore(sim: Any, app_functions: dict[str, Any]) -> None:
    from tests.helpers import eventgrid_event, run_intake

    (record,) = await sim.delete("integration", actor="mallory@contoso.example")
    await app_functions["eventgrid_audit"].get_user_function()(eventgrid_event(record))
    await run_intake(app_functions)
    assert len(await sim.requests(path=RESTORE_PATH, method="POST")) == 1


async def _verify(app_functions: dict[str, Any]) -> None:
    from tests.helpers import receive_verify_messages

    (msg,) = await receive_verify_messages(wait=8.0)
    await app_functions["verify_incident"].get_user_function()(msg)


async def _later(sim: Any, seconds: float) -> None:
    from shared.core.clock import clock

    clock.advance(seconds)
    await sim.advance_clock(seconds)


async def _webhook_notices(sim: Any) -> list[str]:
    from tests.notice_helpers import delivered

    return [p["json"]["notice"] for p in (await delivered(sim))["webhook"]]


async def test_replication_lag_after_a_restore_sends_no_false_consent_notice(
    heal: Any, app_functions: dict[str, Any]
) -> None:
    """The restored service principal stays invisible to reads for 90 s: the first verification sees
    it "missing" (still in the recycle bin). That is lag, not a failed restore: no consent notice;
    the next run, after the lag, resolves."""
    await heal.graph_behaviour(restore_lag_seconds=90)
    await _delete_and_restore(heal, app_functions)
    await _verify(app_functions)
    (inc,) = await incidents()
    assert "graph.service_principal.integration=missing" in (inc.last_verdict or ""), "the lag was seen"
    assert await _webhook_notices(heal) == ["restored"], "no false 'restored but missing again'"

    await _later(heal, 120)
    await _verify(app_functions)
    assert [i.state for i in await incidents()] == ["resolved"]
    assert await _webhook_notices(heal) == ["restored", "resolved"]


async def test_grants_that_do_not_come_back_are_told_once_after_the_settle_time(
    heal: Any, app_functions: dict[str, Any]
) -> None:
    from shared.app.restore import RESTORE_SETTLE

    await heal.graph_behaviour(restore_grants=False)
    await _delete_and_restore(heal, app_functions)
    await _verify(app_functions)
    assert await _webhook_notices(heal) == ["restored"], "not at the first check: it may still be lag"

    await _later(heal, RESTORE_SETTLE.total_seconds() + 1)
    for _ in range(2):
        await _verify(app_functions)
    assert await _webhook_notices(heal) == ["restored", "opened"], "told once"
    (inc,) = await incidents()
    assert inc.reason and "grants did not come back" in inc.reason


async def test_app_roles_that_do_not_come_back_do_not_hold_up_resolution(
    heal: Any, app_functions: dict[str, Any]
) -> None:
    """An application permission held before the deletion is not restored; the admin-consent grant
    Webex works through is: the incident resolves, and the check's evidence says what is held."""
    await heal.assign_app_role("integration")
    await heal.graph_behaviour(restore_app_roles=False)
    await _delete_and_restore(heal, app_functions)
    state = await heal.state()
    assert state["app_role_assignments"] == [] and state["oauth2_permission_grants"]
    await _verify(app_functions)
    assert [i.state for i in await incidents()] == ["resolved"]
    assert await _webhook_notices(heal) == ["restored", "resolved"]


# ------------------------------------------------------------------------- 5. advanced queries
async def _graph_client(env: dict[str, str]) -> Any:
    import httpx
    from azure.identity.aio import ClientSecretCredential

    async with ClientSecretCredential(
        env["AZURE_TENANT_ID"], env["AZURE_CLIENT_ID"], env["AZURE_CLIENT_SECRET"],
        authority=env["AZURE_AUTHORITY_HOST"], connection_verify=env["SSL_CERT_FILE"],
    ) as cred:  # fmt: skip
        token = (await cred.get_token(env["SIMULATOR_URL"] + "/.default")).token
    return httpx.AsyncClient(base_url=env["GRAPH_BASE_URL"], headers={"Authorization": f"Bearer {token}"})


DIRECTORY_COLLECTIONS = (
    "/servicePrincipals",
    "/oauth2PermissionGrants",
    "/directory/deletedItems/microsoft.graph.servicePrincipal",
)
ADVANCED_ONLY = (
    {"$filter": "accountEnabled ne true"},
    {"$filter": "not (displayName eq 'x')"},
    {"$filter": "endsWith(displayName, 'Integration')"},
    {"$filter": "startswith(displayName, 'Cisco')", "$orderby": "displayName"},
    {"$orderby": "displayName"},
)


@pytest.mark.parametrize("path", DIRECTORY_COLLECTIONS)
async def test_advanced_query_operators_need_consistency_level_and_count(
    sim: Any, services_env: dict[str, str], path: str
) -> None:
    """aad-advanced-queries: ne, not, endsWith, $filter with $orderby (and $orderby on these objects)
    need ConsistencyLevel: eventual AND $count=true on directory objects; otherwise 400."""
    async with await _graph_client(services_env) as g:
        for params in ADVANCED_ONLY:
            r = await g.get(path, params=params)
            assert r.status_code == 400, params
            error = r.json()["error"]
            assert error["code"] == "Request_UnsupportedQuery" and error["innerError"]["request-id"], params
            assert (await g.get(path, params={**params, "$count": "true"})).status_code == 400, "header missing"
            r = await g.get(path, params={**params, "$count": "true"}, headers={"ConsistencyLevel": "eventual"})
            assert r.status_code == 200 and "@odata.count" in r.json(), params
        r = await g.get(path, params={"$count": "true"})
        assert r.status_code == 200 and "@odata.count" not in r.json(), "$count without the header is ignored"


async def test_the_apps_own_graph_requests_are_all_default_queries(sim: Any) -> None:
    """The app sends none of the advanced-only forms: a tick and every check pass against the strict
    simulator, and no Graph request it made was refused."""
    from tests.check_helpers import checked

    await sim.assign_app_role("integration")
    tick = await _tick()
    report = await checked(await _svc())
    assert not tick.problems and all(r.verdict == "healthy" for r in report.results if r.name.startswith("graph."))
    graph = await sim.requests(path=r"^/graph/v1\.0/")
    assert graph and [r for r in graph if r["status"] == 400] == []
    directory = [r for r in graph if "audit" not in r["path"]]
    assert not any(k.lower() == "consistencylevel" for r in directory for k in r["headers"])
    assert not any("$orderby" in r["query"] or "$count" in r["query"] for r in directory)


# ------------------------------------------------------------------ hostile and malformed settings
@pytest.mark.parametrize(
    "settings",
    [
        {"audit_rate_limit": -1},
        {"audit_rate_limit": True},
        {"audit_rate_limit": "5"},
        {"audit_rate_window": float("nan")},
        {"restore_lag_seconds": -3},
        {"restore_grants": "no"},
        {"delta_expiry": "404"},
        {"audit_delay": "sometimes"},
        {"audit_page_sizes": [0, 0]},
        {"audit_page_sizes": [1, -1]},
        {"audit_page_sizes": "1,2"},
        {"audit_page_sizes": [1] * 1001},
        {"no_such_behaviour": 1},
    ],
)
def test_behaviour_settings_are_checked(settings: dict[str, Any]) -> None:
    from simulator.graph_behaviour import BehaviourError, GraphBehaviour

    behaviour = GraphBehaviour()
    before = behaviour.describe()
    with pytest.raises(BehaviourError):
        behaviour.update(settings)
    assert behaviour.describe() == before, "a refused setting changes nothing"


def test_the_field_latency_distribution_matches_its_percentiles() -> None:
    import random

    from simulator.graph_behaviour import LATENCY_MAX, GraphBehaviour

    behaviour = GraphBehaviour(audit_delay="field")
    rng = random.Random(14)
    delays = sorted(behaviour.delay(rng) for _ in range(20_000))
    p95, p99 = delays[int(0.95 * len(delays))], delays[int(0.99 * len(delays))]
    assert 100 < p95 < 140 and 250 < p99 < 350, (p95, p99)
    assert max(delays) <= LATENCY_MAX


def test_the_pacer_keeps_to_the_window_and_survives_a_clock_set_back() -> None:
    from shared.app.sweep import RatePacer
    from shared.core.clock import clock

    pacer = RatePacer(5, 10.0, margin=1.0)
    for _ in range(5):
        assert pacer.wait() == 0.0
        pacer.note()
    assert 10.5 < pacer.wait() <= 11.0
    clock.advance(11)
    assert pacer.wait() == 0.0
    pacer.note()
    clock.reset()  # time goes backwards (a test resets the clock): no absurd wait
    assert pacer.wait() == 0.0


async def test_hostile_delta_tokens_are_refused_or_expired(sim: Any, services_env: dict[str, str]) -> None:
    from simulator.odata import encode_token

    path = "/servicePrincipals/delta()"
    async with await _graph_client(services_env) as g:
        for token, code in (
            ("%%%not-base64", "Request_UnsupportedQuery"),
            ("W10", "Request_UnsupportedQuery"),  # a JSON list, not an object
            (encode_token({"seq": 0, "t": "yesterday", "e": 0}), "syncStateNotFound"),
            (encode_token({"seq": 0, "t": 1e300, "e": "0"}), "syncStateNotFound"),
            (encode_token({"seq": 0}), "syncStateNotFound"),  # issued before links carried their age
        ):
            r = await g.get(path, params={"$deltatoken": token})
            assert r.status_code == 400 and r.json()["error"]["code"] == code, token


async def test_a_stored_next_link_to_another_host_is_not_followed(sim: Any) -> None:
    """The audit cursor is data read back from storage: a link to another host is refused and the
    poll reads from its checkpoint instead."""
    svc = await _svc()
    cp = svc.checkpoints()
    state = await cp.get_state("audit-poll")
    await cp.put_state(
        "audit-poll", {"since": "", "next": "https://attacker.example/graph/v1.0/x", "round": ""}, state.etag
    )
    (record,) = await sim.delete("integration", actor="mallory@contoso.example")
    tick = await _tick()
    assert record["id"] in {o.record_id for o in tick.outcomes}
    assert (await _state("audit-poll"))["next"] == ""


async def test_an_expired_delta_link_answers_in_the_documented_shapes(sim: Any, services_env: dict[str, str]) -> None:
    async with await _graph_client(services_env) as g:
        first = await g.get("/servicePrincipals/delta()", params={"$select": "id,appId"})
        link = first.json()["@odata.deltaLink"]
        assert (await g.get(link)).status_code == 200, "a fresh link works"
        await sim.expire_delta_links()
        r = await g.get(link)
        assert r.status_code == 400 and r.json()["error"]["code"] == "syncStateNotFound"
        assert "synchronized again" in r.json()["error"]["message"]
        await sim.graph_behaviour(delta_expiry="410")
        r = await g.get(link)
        assert r.status_code == 410 and r.json()["error"]["innerError"]["request-id"]
        restart = r.headers["Location"]
        assert restart.split("?")[0] == link.split("?")[0] and "$deltatoken" not in restart
        assert "$select=id,appId" in restart, "the initial query, as it was sent"
        assert "@odata.deltaLink" in (await g.get(restart)).json()


async def test_records_late_by_the_field_distribution_are_all_attributed(sim: Any) -> None:
    """Delays drawn from the field distribution (P95 2 min, P99 5 min, at most 15): with ticks every
    minute, both deletions end up naming who did them, each on its own incident."""
    from shared.core.clock import clock

    await sim.reset(seed=14)
    await sim.graph_behaviour(audit_delay="field")
    await sim.delete("integration", actor="mallory@contoso.example")
    await sim.delete("identity", actor="eve@contoso.example")
    for _ in range(16):
        await _tick()
        clock.advance(60)
        await sim.advance_clock(60)
    who = {i.app_key: i.initiator_label for i in await incidents()}
    assert who == {"integration": "mallory@contoso.example", "identity": "eve@contoso.example"}
