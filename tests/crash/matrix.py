"""Path × crash point: which runs to make, what each must show, and the table of outcomes.

For each path the crash-free run is made first; it counts the worker's durable calls (storage and
HTTP) and invocations, which gives the crash points, and its end state is what every crashed run
must reach too (:func:`problems`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tests.crash.harness import CrashPoint, Rig, RunResult


@dataclass(frozen=True, slots=True)
class Scope:
    """Which crash points to run. ``storage_modes``: hold a storage call before it reaches Azurite,
    after Azurite applied it, or both (HTTP calls always get both: the channel acted or not).
    ``double`` / ``recovery``: how many points (spread evenly; ``None``: all) get the second crash."""

    storage_modes: tuple[str, ...] = ("before", "after")
    double: int | None = None
    recovery: int | None = None


FULL = Scope()
SUITE = Scope(storage_modes=("before",), double=2, recovery=2)
"""In the suite (under 60 s): killing before storage call k leaves Azurite as killing after call
k - 1 does (reads in between change nothing durable), so one mode covers every storage step; HTTP
calls get both, since a channel that acted is the documented duplicate window."""


def spread(items: list[CrashPoint], n: int | None) -> list[CrashPoint]:
    if n is None or n >= len(items):
        return items
    return [items[round(i * (len(items) - 1) / max(n - 1, 1))] for i in range(n)]


def single_points(base: RunResult, scope: Scope = FULL) -> list[CrashPoint]:
    points = [CrashPoint("storage", k, when) for k in range(1, base.storage_calls + 1) for when in scope.storage_modes]
    points += [CrashPoint("http", k, when) for k in range(1, base.http_calls + 1) for when in ("before", "after")]
    points += [CrashPoint("ack", k) for k in range(1, base.invocations + 1)]
    return points


def plans(base: RunResult, scope: Scope = FULL) -> list[tuple[CrashPoint, ...]]:
    """One crash at every point; then the same point twice in a row (the fresh worker dies at the
    same step of its own calls), and a crash at the first durable call of the recovery run after a
    crash before each storage step."""
    singles = single_points(base, scope)
    out: list[tuple[CrashPoint, ...]] = [(p,) for p in singles]
    again = [(p, CrashPoint(p.where, 0, p.when, again=True)) for p in singles if p.where != "ack"]
    out += [pair for pair in again if pair[0] in spread([a for a, _ in again], scope.double)]
    firsts = [CrashPoint("storage", k, "before") for k in range(1, base.storage_calls + 1)]
    out += [(p, CrashPoint("storage", 1, "after")) for p in spread(firsts, scope.recovery)]
    return out


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
    if result.poison:
        out.append(f"poison: {result.poison}")
    if result.left_in_queues:
        out.append(f"{result.left_in_queues} message(s) left in the queues")
    if result.held_claims:
        out.append(f"claims or leases left held: {result.held_claims}")
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

    def add(self, result: RunResult, base: RunResult, found: list[str]) -> None:
        self.runs += 1
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
    rig: Rig, paths: tuple[str, ...], scope: Scope = FULL, progress: Callable[[str], None] | None = None
) -> tuple[list[Row], dict[str, RunResult]]:
    """Every plan on every path; rows grouped by path and kind of crash point."""
    rows: dict[tuple[str, str], Row] = {}
    bases: dict[str, RunResult] = {}
    for path in paths:
        base = await rig.run(path)
        found = problems(base, base)
        if found:
            raise AssertionError(f"{path}: the crash-free run itself is wrong: {found}")
        bases[path] = base
        for plan in plans(base, scope):
            result = await rig.run(path, plan)
            what = row_key(plan)
            row = rows.setdefault((path, what), Row(path, what))
            found = problems(result, base)
            row.add(result, base, found)
            if progress is not None:
                progress(f"{path}: {' + '.join(p.label for p in plan)}: {'; '.join(found) or 'converged'}")
    return list(rows.values()), bases
