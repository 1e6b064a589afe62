"""Path × crash point: which runs to make, what each must show, and the table of outcomes.

For each path the crash-free run is made first; it counts the worker's durable calls (storage and
HTTP) and invocations, which gives the crash points, and its end state is what every crashed run
must reach too (:func:`problems`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from tests.crash.harness import HTTP_TARGETS, PATHS, CrashPoint, Rig, RunResult

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Scope:
    """Which crash points to run. ``full``: every point of the crash-free run, storage and HTTP calls
    held both before and after the service acts, each point also twice in a row, and every storage
    step killed before and then again in the recovery run (:func:`every_plan`). Otherwise the suite's
    deterministic sample of every kind of point (:func:`suite_plans`)."""

    full: bool = True


FULL = Scope()
SUITE = Scope(full=False)


def turned(items: list[T], n: int, turn: int) -> list[T]:
    """``n`` of ``items``, evenly spaced, starting at position ``turn``: the three paths (turn 0, 1,
    2) take interleaved thirds, so together they cover up to three times as many positions."""
    if not items or n <= 0:
        return []
    n = min(n, len(items))
    return [items[i] for i in sorted({(turn + round(j * len(items) / n)) % len(items) for j in range(n)})]


HTTP_TARGETS_IN_ORDER = ("restore", *(t for t in HTTP_TARGETS if t != "restore"))


def http_points(base: RunResult, when: str) -> list[CrashPoint]:
    """Every durable HTTP call of the crash-free run, by target (the restore, then each channel's
    first notice, then each channel's second), held ``when``."""
    most = max(base.http_targets.values(), default=0)
    return [
        CrashPoint("http", k, when, target=t)
        for k in range(1, most + 1)
        for t in HTTP_TARGETS_IN_ORDER
        if base.http_targets.get(t, 0) >= k
    ]


def single_points(base: RunResult) -> list[CrashPoint]:
    """Every single crash point of the crash-free run: each storage call and each HTTP call, held
    before and after, and each invocation's ack."""
    points = [CrashPoint("storage", k, when) for k in range(1, base.storage_calls + 1) for when in ("before", "after")]
    points += [p for when in ("before", "after") for p in http_points(base, when)]
    points += [CrashPoint("ack", k) for k in range(1, base.invocations + 1)]
    return points


def every_plan(base: RunResult) -> list[tuple[CrashPoint, ...]]:
    """One crash at every point; then the same point twice in a row (the fresh worker dies at the
    same step of its own calls), and a crash at the first durable call of the recovery run after a
    crash before each storage step."""
    singles = single_points(base)
    out: list[tuple[CrashPoint, ...]] = [(p,) for p in singles]
    out += [(p, CrashPoint(p.where, 0, p.when, again=True, target=p.target)) for p in singles if p.where != "ack"]
    out += [(CrashPoint("storage", k, "before"), RECOVERY) for k in range(1, base.storage_calls + 1)]
    return out


RECOVERY = CrashPoint("storage", 1, "after")
"""The second crash of a "during recovery" plan: the fresh worker's first durable write."""


def near_effects(base: RunResult) -> list[int]:
    """Storage steps next to an outside effect: the first and the last write, and around every
    durable HTTP call the write just before it (a claim: the restore's, the channels') and the one
    just after it (the outcome recorded) — where a crash opens the duplicate window or the restore's
    fallback."""
    last = base.storage_calls
    around = {w + d for _, w in base.http_sequence for d in (0, 1)}
    return sorted(k for k in {1, last} | around if 1 <= k <= last)


def first_notice_claim(base: RunResult) -> int:
    """The storage step just before the first notice left: the channels' claim."""
    return min((w for target, w in base.http_sequence if target != "restore"), default=1)


def suite_plans(base: RunResult, turn: int) -> list[tuple[CrashPoint, ...]]:
    """The suite's sample for the path at position ``turn`` of PATHS: every kind of crash point,
    each at a step where it matters, the paths taking turns so that together they cover more:

    - storage, killed before: 1 of the steps next to an outside effect (:func:`near_effects`), and
      two more as the first crash of the two plans below;
    - storage, killed after: 1 of them;
    - HTTP, killed before and after: the five targets (the restore, e-mail, Webex, Teams, the
      webhook) dealt over the three paths, so that each target is killed before on one path and
      after on another — a channel's first notice one way, its second the other (:func:`http_turns`);
    - a lost ack: 1 of the invocations;
    - twice in a row: the write just before the first notice leaves (the channels' claim), killed
      before, and again when the fresh worker makes it (the timer path lost its notice there
      before issue 19's fix);
    - during recovery: 1 storage step next to an outside effect, killed before, then the recovery
      run's first write, killed after.
    """
    near = near_effects(base)
    before = [CrashPoint("storage", k, "before") for k in turned(near, 1, turn)]
    after = [CrashPoint("storage", k, "after") for k in turned(near, 1, turn + 1)]
    acks = turned([CrashPoint("ack", k) for k in range(1, base.invocations + 1)], 1, turn)
    out: list[tuple[CrashPoint, ...]] = [(p,) for p in (*before, *after, *http_turns(base, turn), *acks)]
    claim = CrashPoint("storage", first_notice_claim(base), "before")
    out.append((claim, CrashPoint("storage", 0, "before", again=True)))
    out += [(CrashPoint("storage", k, "before"), RECOVERY) for k in turned(near, 1, turn + 2)]
    return out


def http_turns(base: RunResult, turn: int) -> list[CrashPoint]:
    """The HTTP points of path ``turn``: target ``i`` of HTTP_TARGETS (restore, e-mail, Webex,
    Teams, webhook) is killed before on path ``i mod 3`` and after on path ``(i + 1) mod 3``; a
    channel at its notice ``1 + i mod 2`` before and the other one after (when it sent two)."""
    out = []
    for i, target in enumerate(HTTP_TARGETS_IN_ORDER):
        for m, when in enumerate(("before", "after")):
            if (i + m) % 3 == turn and base.http_targets.get(target):
                k = min(1 + (i + m) % 2, base.http_targets[target])
                out.append(CrashPoint("http", k, when, target=target))
    return out


def plans(base: RunResult, scope: Scope = FULL, turn: int = 0) -> list[tuple[CrashPoint, ...]]:
    return every_plan(base) if scope.full else suite_plans(base, turn)


def fallback(result: RunResult, base: RunResult) -> bool:
    """The documented fallback of a restore whose worker died between claiming it and recording its
    outcome (shared.app.restore): settled as ``failed`` after the lease, never retried; the consent
    notice (``opened``) goes out instead of ``restored`` and the incident resolves once an admin
    consented (the harness plays that admin) or the app is found healthy."""
    restored = [i for i in base.incidents if i[3] == "restored"]
    return bool(restored) and any(i[3] == "failed" for i in result.incidents)


def expected(result: RunResult, base: RunResult) -> tuple[list[tuple[str, ...]], set[tuple[str, str]]]:
    """The final rows and the notices owed: the crash-free run's, or its documented fallback."""
    if not fallback(result, base):
        return base.incidents, set(base.notices)
    rows = [(*i[:3], "failed" if i[3] == "restored" else i[3]) for i in base.incidents]
    return rows, {(channel, "opened" if notice == "restored" else notice) for channel, notice in base.notices}


def problems(result: RunResult, base: RunResult) -> list[str]:
    """Everything a crashed run must show, from what Azurite and the simulator recorded."""
    out: list[str] = []
    if result.plan and not result.kills:  # a second crash may not come: the recovery need not write again
        out.append("the crash point was not reached")
    if len(result.incident_ids) != 1:
        out.append(f"{len(result.incident_ids)} incidents: {sorted(result.incident_ids)}")
    rows, owed = expected(result, base)
    if result.incidents != rows:
        out.append(f"final state {result.incidents} != {rows}")
    out.extend(f"notice lost: {key}" for key in sorted(owed) if result.notices.get(key, 0) < 1)
    window = result.in_window
    for key, count in result.notices.items():
        if key not in owed:
            out.append(f"unexpected notice {key} x{count}")
        elif count - 1 > window.get(key, 0):
            out.append(f"duplicate outside the documented window: {key} x{count} (in window: {window.get(key, 0)})")
    out.extend(webhook_problems(result))
    if result.poison:
        out.append(f"poison: {result.poison}")
    if result.left_in_queues:
        out.append(f"{result.left_in_queues} message(s) left in the queues")
    if result.held_claims:
        out.append(f"claims or leases left held: {result.held_claims}")
    return out


def webhook_problems(result: RunResult) -> list[str]:
    """The signed webhook: every post verifies with the secret, and a notice delivered twice carries
    the same delivery id both times (a receiver that remembers ids drops the duplicate), while two
    different notices never share one."""
    out = [f"webhook {post.notice}: the signature does not verify" for post in result.webhook if not post.signed]
    ids: dict[str, set[str]] = {}
    for post in result.webhook:
        ids.setdefault(post.notice, set()).add(post.delivery)
    out += [f"webhook {notice} sent with {len(found)} delivery ids" for notice, found in ids.items() if len(found) > 1]
    every = [delivery for found in ids.values() for delivery in found]
    if len(set(every)) < len(every):
        out.append(f"two webhook notices share a delivery id: {sorted(ids.items())}")
    return out


def duplicates(result: RunResult) -> int:
    return sum(count - 1 for count in result.notices.values() if count > 1)


@dataclass(slots=True)
class Row:
    """One line of the table: a path and a kind of crash point, over all its k."""

    path: str
    what: str
    runs: int = 0
    converged: int = 0
    fallbacks: int = 0
    second_reached: int = 0
    duplicates: int = 0
    duplicate_runs: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    plans: list[tuple[CrashPoint, ...]] = field(default_factory=list)
    results: list[RunResult] = field(default_factory=list)
    webhook_resent: int = 0
    """Runs that delivered a webhook notice twice (each time with the same delivery id, or it failed)."""

    def add(self, result: RunResult, base: RunResult, found: list[str]) -> None:
        self.runs += 1
        self.plans.append(result.plan)
        self.results.append(result)
        self.webhook_resent += any(n > 1 for (channel, _), n in result.notices.items() if channel == "webhook")
        self.fallbacks += fallback(result, base)
        label = " + ".join(p.label for p in result.plan)
        if found:
            self.failures.append(f"{label}: {'; '.join(found)}")
        else:
            self.converged += 1
        self.second_reached += len(result.plan) > 1 and len(result.kills) > 1
        dup = duplicates(result)
        if dup:
            self.duplicates += dup
            self.duplicate_runs.append(f"{label} ({', '.join(k[0] + ' ' + k[1] for k in result.in_window)})")


def row_key(plan: tuple[CrashPoint, ...]) -> str:
    first = plan[0]
    kind = "ack lost" if first.where == "ack" else f"{first.where} call, killed {first.when}"
    if len(plan) == 1:
        return kind
    if plan[1].again:
        return f"{kind}, and again when the fresh worker makes that call"
    return f"{kind}, then again in the recovery run"


def table(rows: list[Row], steps: dict[str, RunResult]) -> str:
    lines = [
        "| Path | Crash point (every k) | Runs | Converged | … by the restore fallback | Duplicate notices "
        "(each in the window) | Runs with duplicates (channel, notice in the window) |",
        "|---|---|---|---|---|---|---|",
    ]
    failures = []
    for row in rows:
        where = "; ".join(row.duplicate_runs[:3]) + (" …" if len(row.duplicate_runs) > 3 else "") or "—"
        second = f" (second crash in {row.second_reached})" if "again" in row.what else ""
        lines.append(
            f"| {row.path} | {row.what} | {row.runs} | {row.converged}/{row.runs}{second} | {row.fallbacks} "
            f"| {row.duplicates} | {where} |"
        )
        failures += [f"- {row.path}, {failure}" for failure in row.failures]
    counts = ", ".join(
        f"{path}: {r.storage_calls} storage + {r.http_calls} HTTP durable calls, {r.invocations} invocations"
        for path, r in steps.items()
    )
    text = "\n".join(lines) + f"\n\nCrash-free runs: {counts}.\n"
    return text + ("\nNot converged:\n" + "\n".join(failures) + "\n" if failures else "")


async def run_matrix(
    rigs: Rig | Sequence[Rig],
    paths: tuple[str, ...],
    scope: Scope = FULL,
    progress: Callable[[str], None] | None = None,
) -> tuple[list[Row], dict[str, RunResult]]:
    """Every plan on every path, spread over the lanes (``rigs``: the runs are independent); rows
    grouped by path and kind of crash point, in plan order. A path's plans start once its crash-free
    run is in."""
    lanes = [rigs] if isinstance(rigs, Rig) else list(rigs)
    free: asyncio.Queue[Rig] = asyncio.Queue()
    for rig in lanes:
        free.put_nowait(rig)

    async def on_lane(path: str, plan: tuple[CrashPoint, ...] = ()) -> RunResult:
        rig = await free.get()
        try:
            return await rig.run(path, plan)
        finally:
            free.put_nowait(rig)

    bases: dict[str, RunResult] = {}

    async def one_path(path: str) -> list[tuple[RunResult, list[str]]]:
        base = bases[path] = await on_lane(path)
        found = problems(base, base)
        if found:
            raise AssertionError(f"{path}: the crash-free run itself is wrong: {found}")

        async def one(plan: tuple[CrashPoint, ...]) -> tuple[RunResult, list[str]]:
            result = await on_lane(path, plan)
            found = problems(result, base)
            if progress is not None:
                progress(f"{path}: {' + '.join(p.label for p in plan)}: {'; '.join(found) or 'converged'}")
            return result, found

        turn = PATHS.index(path) if path in PATHS else 0
        return await asyncio.gather(*(one(plan) for plan in plans(base, scope, turn)))

    done = await asyncio.gather(*(one_path(path) for path in paths))
    rows: dict[tuple[str, str], Row] = {}
    for path, outcomes in zip(paths, done, strict=True):
        for result, found in outcomes:
            what = row_key(result.plan)
            rows.setdefault((path, what), Row(path, what)).add(result, bases[path], found)
    return list(rows.values()), {path: bases[path] for path in paths}
