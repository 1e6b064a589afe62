"""The crash matrix's own rules, without services: the suite's sample covers every kind of crash point
on every path and every HTTP target both ways across the paths; the signed webhook's checks fail on a
bad signature or a delivery id that changes; notices are told apart on Teams and the webhook, whatever
the recording holds; virtual time jumps only over rounds with nothing to do."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from shared.notify.signing import signature_headers
from tests.crash.harness import (
    CHANNELS,
    HTTP_TARGETS,
    PATHS,
    TICK,
    CrashPoint,
    Pending,
    Platform,
    RunResult,
    WebhookPost,
    _webhook_post,
    notice_of,
)
from tests.crash.matrix import (
    SUITE,
    Row,
    first_notice_claim,
    near_effects,
    plans,
    row_key,
    suite_plans,
    webhook_problems,
)
from tests.notice_helpers import WEBHOOK_SECRET


def _base(storage: int = 16, invocations: int = 3) -> RunResult:
    """A crash-free run shaped like the Event Grid path's: the restore after write 3, the first notice
    on every channel after write 5, the second after write 12."""
    base = RunResult("eventgrid", ())
    base.storage_calls, base.invocations = storage, invocations
    base.http_targets = {"restore": 1, **dict.fromkeys(CHANNELS, 2)}
    base.http_sequence = [("restore", 3)] + [(c, 5) for c in CHANNELS] + [(c, 12) for c in CHANNELS]
    base.http_calls = len(base.http_sequence)
    return base


def test_the_suite_runs_every_kind_of_crash_point_on_every_path() -> None:
    base = _base()
    kinds = {
        "storage call, killed before",
        "storage call, killed after",
        "http call, killed before",
        "http call, killed after",
        "ack lost",
        "storage call, killed before, and again when the fresh worker makes that call",
        "storage call, killed before, then again in the recovery run",
    }
    for turn in range(len(PATHS)):
        sample = suite_plans(base, turn)
        assert {row_key(plan) for plan in sample} == kinds, turn
        assert len(sample) <= 11, "the suite stays small: one path's sample"
        assert plans(base, SUITE, turn) == sample


def test_across_the_paths_every_http_target_is_killed_both_ways_and_every_notice_once() -> None:
    base = _base()
    aimed = {(p.target, p.k, p.when) for turn in range(3) for plan in suite_plans(base, turn) for p in plan}
    for target in HTTP_TARGETS:
        assert {w for t, _, w in aimed if t == target} == {"before", "after"}, target
        assert {k for t, k, _ in aimed if t == target} == set(range(1, base.http_targets[target] + 1)), target


def test_the_steps_next_to_an_outside_effect_and_the_first_notices_claim() -> None:
    base = _base()
    assert near_effects(base) == [1, 3, 4, 5, 6, 12, 13, 16]
    assert first_notice_claim(base) == 5, "the restore's claim is not a notice's"
    double = [plan for plan in suite_plans(base, 0) if len(plan) == 2 and plan[1].again]
    assert double == [(CrashPoint("storage", 5, "before"), CrashPoint("storage", 0, "before", again=True))]


def test_a_base_without_http_calls_still_gives_a_sample() -> None:
    base = RunResult("alert", ())
    base.storage_calls, base.invocations = 2, 1
    sample = suite_plans(base, 1)
    assert all(p.where != "http" for plan in sample for p in plan)
    assert all(1 <= p.k <= 2 for plan in sample for p in plan if p.where == "storage" and not p.again)


def _signed_entry(notice: str, delivery: str, *, body: dict[str, Any] | None = None) -> dict[str, Any]:
    raw = json.dumps(body or {"notice": notice}).encode()
    headers = signature_headers(raw, WEBHOOK_SECRET.encode(), delivery_id=delivery, now=1_700_000_000)
    return {"json": json.loads(raw), "text": raw.decode(), "headers": {k.lower(): v for k, v in headers.items()}}


def test_a_recorded_webhook_post_is_checked_with_the_rigs_secret() -> None:
    entry = _signed_entry("restored", "d-1")
    assert _webhook_post("restored", entry) == WebhookPost("restored", "d-1", True)
    tampered = {**entry, "text": entry["text"].replace("restored", "resolved")}
    assert not _webhook_post("restored", tampered).signed
    for broken in (
        {**entry, "headers": {}},
        {**entry, "headers": {**entry["headers"], "x-remediator-timestamp": "²"}},
        {**entry, "headers": {**entry["headers"], "x-remediator-timestamp": "1" * 40}},
        {**entry, "headers": {**entry["headers"], "x-remediator-delivery": "../" * 50}},
        {**entry, "headers": None},
        {"json": None},
    ):
        assert not _webhook_post("restored", broken).signed, broken


@pytest.mark.parametrize(
    ("posts", "problem"),
    [
        ([WebhookPost("restored", "a", True), WebhookPost("restored", "a", True)], None),
        ([WebhookPost("restored", "a", False)], "does not verify"),
        ([WebhookPost("restored", "a", True), WebhookPost("restored", "b", True)], "2 delivery ids"),
        ([WebhookPost("restored", "a", True), WebhookPost("resolved", "a", True)], "share a delivery id"),
    ],
)
def test_the_webhook_checks(posts: list[WebhookPost], problem: str | None) -> None:
    result = RunResult("eventgrid", ())
    result.webhook = posts
    found = webhook_problems(result)
    assert (found == []) if problem is None else any(problem in f for f in found), found


def _card(text: object) -> dict[str, Any]:
    return {
        "json": {"type": "message", "attachments": [{"content": {"type": "AdaptiveCard", "body": [{"text": text}]}}]}
    }


@pytest.mark.parametrize(
    ("channel", "entry", "notice"),
    [
        ("webhook", {"json": {"notice": "restored"}}, "restored"),
        ("webhook", {"json": ["not", "an", "object"]}, "?"),
        ("webhook", {"json": None}, "?"),
        ("teams", _card("Resolved: Webex directory sync works again for “x”."), "resolved"),
        ("teams", _card("Restored automatically: the app …"), "restored"),
        ("teams", _card("Webex directory sync is broken. x."), "opened"),
        ("teams", _card("**<b>Resolved</b>**" * 2000), "<b>Resolved</b>"),
        ("teams", {"json": {"attachments": []}}, "?"),
        ("teams", {"json": {"attachments": [{"content": {"body": "x"}}]}}, "?"),
        ("teams", {"json": "text"}, "?"),
    ],
)
def test_notices_are_told_apart_on_teams_and_the_webhook(channel: str, entry: dict[str, Any], notice: str) -> None:
    assert notice_of(channel, entry) == notice


def _platform(path: str) -> Platform:
    return Platform(SimpleNamespace(sim=None), path, ())  # type: ignore[arg-type]


def test_virtual_time_jumps_only_over_rounds_with_nothing_to_do() -> None:
    timer = _platform("timer")
    assert timer.next_round() == TICK, "a tick that takes the lease works every minute"
    timer.leases = [599.7]
    assert timer.next_round() == 600, "ticks in between would find a dead tick's lease held"
    timer.pending["m"] = Pending("webex-verify", "r", 120)
    assert timer.next_round() == 120, "a message due first"
    grid = _platform("eventgrid")
    grid.pending["m"] = Pending("webex-verify", "r", 300)
    assert grid.next_round() == 300
    grid.event = {"id": "e"}
    assert grid.next_round() == TICK, "Event Grid redelivers every round until it is answered"
    grid.event, grid.pending = None, {}
    assert grid.next_round() == TICK
    grid.pending["m"] = Pending("webex-verify", "r", 30)
    assert grid.next_round() == TICK, "never less than one round"


def test_a_row_counts_a_resent_webhook_notice() -> None:
    base = _base()
    result = RunResult("eventgrid", (CrashPoint("http", 1, "after", target="webhook"),))
    result.notices = {("webhook", "restored"): 2, ("email", "restored"): 1}
    row = Row("eventgrid", row_key(result.plan))
    row.add(result, base, [])
    assert row.webhook_resent == 1 and row.duplicates == 1 and row.results == [result]
