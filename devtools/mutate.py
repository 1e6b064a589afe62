"""Mutation testing of the fast tier: does a test fail when the code is subtly wrong?

``make mutation`` runs ``python -m devtools.mutate FILE...``. For each module it parses the source,
lists every mutant (the operators in :data:`OPERATORS`), and runs the module's fast tests
(:data:`FAST_TESTS`, no Azurite, no simulator) once per mutant. A mutant is *killed* when a test
fails, *survives* when they all pass, *times out* when they hang. The mutated code never touches
the file on disk: each run is a forked child whose import hook compiles the mutated tree in place of
the module's source. The parent imported the third-party packages the tests need beforehand (found
by a baseline run), so a child pays only for the project's own modules and the tests themselves.

Equivalent mutants (the behaviour cannot change) are listed, each with its reason, in
``devtools/mutation_equivalents.txt`` and left out of the score:
``score = killed / (total - equivalent)``. docs/testing.md explains how to read the output.
"""

from __future__ import annotations

import argparse
import ast
import copy
import importlib
import importlib.machinery
import importlib.util
import json
import os
import random
import re
import select
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import CodeType, FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENTS = ROOT / "devtools" / "mutation_equivalents.txt"
PROJECT = ("shared", "tests", "functions", "function_app", "devtools", "simulator", "bench", "conftest")
"""Top-level names of this repository: never pre-imported by the parent, so each child imports the mutant."""
MUTANT_START = 60.0
"""Seconds a mutant's child may take to start pytest and collect its tests, on a loaded machine."""

_DETECT = (
    "tests/test_classify_rules.py",
    "tests/test_classify_fast_paths.py",
    "tests/test_normalize_payload.py",
    "tests/test_normalize_shapes.py",
    "tests/test_classify_exports.py",
    "tests/test_export_lane.py",
    "tests/test_graph_pages.py",
    "tests/test_intake.py",
    "tests/test_hostile_input.py",
    "tests/test_tenant_markers.py",
    "tests/test_loganalytics_query.py",
    "tests/test_infra.py",
)
FAST_TESTS: dict[str, tuple[str, ...]] = {
    "shared/detect/": ("tests/unit/detect", "tests/unit/core", *_DETECT),
    "shared/core/catalogue.py": (
        "tests/unit/core",
        "tests/unit/detect",
        "tests/test_classify_rules.py",
        "tests/test_classify_cli.py",
        "tests/test_render_email.py",
        "tests/test_notify_channels.py",
        "tests/test_render_hostile.py",
    ),
    "shared/notify/": (
        "tests/unit/notify",
        "tests/test_linkifiers.py",
        "tests/test_render_hostile.py",
        "tests/test_render_email.py",
        "tests/test_notify_channels.py",
    ),
    "shared/incidents/": ("tests/unit/incidents",),
}
"""Module (or folder prefix, longest wins) → its fast test files. Only tests without the ``sim``
fixture run (``-m "not integration"``); paths that do not exist (yet) are skipped."""


# ---------------------------------------------------------------------------------------------
# Operators: each yields (operator, replacement) for one node; the replacement is a new node.

Mutation = tuple[str, ast.AST]

_CMP_SWAP: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}


def _comparison(node: ast.AST) -> Iterator[Mutation]:
    if isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            new = copy.deepcopy(node)
            new.ops[i] = _CMP_SWAP[type(op)]()
            yield "comparison", new


def _boolean(node: ast.AST) -> Iterator[Mutation]:
    if isinstance(node, ast.BoolOp):
        new = copy.deepcopy(node)
        new.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        yield "boolean", new
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        yield "not-removed", copy.deepcopy(node.operand)


def _constant(node: ast.AST, in_comparison: bool) -> Iterator[Mutation]:
    if not isinstance(node, ast.Constant):
        return
    value = node.value
    if isinstance(value, bool):
        yield "constant", ast.Constant(not value)
    elif isinstance(value, int):
        yield "constant", ast.Constant(value + 1)
        yield "constant", ast.Constant(value - 1)
    elif isinstance(value, str) and value and in_comparison:
        yield "constant", ast.Constant("")


def _min_max(node: ast.AST) -> Iterator[Mutation]:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("min", "max"):
        new = copy.deepcopy(node)
        assert isinstance(new.func, ast.Name)
        new.func.id = "max" if node.func.id == "min" else "min"
        yield "min-max", new


_LOG_NAMES = frozenset({"log", "logger", "_log", "_logger", "logging"})


def _is_log_call(node: ast.Expr) -> bool:
    call = node.value
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Attribute):
        return False
    owner = call.func.value
    return isinstance(owner, ast.Name) and owner.id in _LOG_NAMES


def _dropped(node: ast.AST) -> Iterator[Mutation]:
    """Statements inside functions: a call or augmented assignment becomes ``pass``; an assignment's
    value and a return's value become ``None``. Log calls are left alone (nothing a test should read)."""
    none = ast.Constant(None)
    call = isinstance(node, ast.Expr) and isinstance(node.value, ast.Call | ast.Await) and not _is_log_call(node)
    if call or isinstance(node, ast.AugAssign):
        yield "dropped", ast.Pass()
        return
    if not isinstance(node, ast.Assign | ast.AnnAssign | ast.Return) or node.value is None:
        return
    if isinstance(node.value, ast.Constant) and node.value.value is None:
        return
    new = copy.deepcopy(node)
    new.value = none
    yield "dropped", new


def _row_cells(row: ast.AST) -> list[ast.expr] | None:
    if isinstance(row, ast.Tuple | ast.List):
        return row.elts
    if isinstance(row, ast.Call):
        return row.args
    return None


def _swapped_cells(table: ast.AST) -> Iterator[tuple[ast.AST, str, str, ast.AST]]:
    """Rows of a module- or class-level literal table (a tuple/list of tuples or calls, or a dict):
    two adjacent cells of a row swap places (two adjacent values, for a dict)."""
    if isinstance(table, ast.Dict):
        rows: list[tuple[ast.AST, list[ast.expr]]] = [(table, table.values)]
    elif isinstance(table, ast.Tuple | ast.List | ast.Set):
        rows = [(r, cells) for r in table.elts if (cells := _row_cells(r)) is not None]
        if len(rows) < 2:
            return
    else:
        return
    for row, cells in rows:
        for i in range(len(cells) - 1):
            if ast.dump(cells[i]) == ast.dump(cells[i + 1]):
                continue
            new = copy.deepcopy(row)
            new_cells = new.values if isinstance(new, ast.Dict) else _row_cells(new)
            assert new_cells is not None
            new_cells[i], new_cells[i + 1] = new_cells[i + 1], new_cells[i]
            pair = f"{ast.unparse(cells[i])}, {ast.unparse(cells[i + 1])}"
            swapped = f"{ast.unparse(cells[i + 1])}, {ast.unparse(cells[i])}"
            yield row, pair, swapped, new


OPERATORS = ("comparison", "boolean", "not-removed", "constant", "min-max", "dropped", "swapped-cells")


# ---------------------------------------------------------------------------------------------
# Finding the mutable nodes of a module.


@dataclass(frozen=True)
class Mutant:
    path: str  # relative to the repository root
    line: int
    operator: str
    original: str
    mutated: str
    index: int  # the node's position in _mutable_nodes order
    replacement: ast.AST = field(compare=False, repr=False)
    lines: frozenset[int] | None = field(default=None, compare=False, repr=False)
    """The lines a test must run for this mutant to matter; ``None``: import time (every test)."""

    def label(self) -> str:
        return f"{self.path}:{self.line} {self.operator} {_short(self.original)} → {_short(self.mutated)}"


def _short(text: str, limit: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _skipped_subtrees(tree: ast.Module) -> set[int]:
    """Nodes never mutated: annotations, docstrings, ``TYPE_CHECKING`` blocks, ``__all__``."""
    skip: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.arg | ast.AnnAssign) and node.annotation is not None:
            skip.append(node.annotation)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.returns is not None:
            skip.append(node.returns)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                skip.append(body[0])
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.append(node)
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            skip.append(node)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            skip.append(node)  # attribute docstrings
    return {id(n) for s in skip for n in ast.walk(s)}


def _comparison_operands(tree: ast.Module) -> set[int]:
    ids: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for operand in (node.left, *node.comparators):
                ids.add(id(operand))
                if isinstance(operand, ast.Tuple | ast.List | ast.Set):
                    ids.update(id(e) for e in operand.elts)
    return ids


def _in_functions(tree: ast.Module) -> dict[int, int]:
    """Nodes inside function bodies → the first line of their innermost statement."""
    found: dict[int, int] = {}

    def visit(node: ast.AST, statement_line: int) -> None:
        if isinstance(node, ast.stmt):
            statement_line = node.lineno
        found[id(node)] = statement_line
        for child in ast.iter_child_nodes(node):
            visit(child, statement_line)

    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for stmt in node.body:
                visit(stmt, stmt.lineno)
    return found


def _tables(tree: ast.Module) -> Iterator[ast.AST]:
    scopes: list[ast.Module | ast.ClassDef] = [tree, *(n for n in tree.body if isinstance(n, ast.ClassDef))]
    for scope in scopes:
        for stmt in scope.body:
            if isinstance(stmt, ast.Assign | ast.AnnAssign) and stmt.value is not None:
                yield stmt.value


def _mutable_nodes(tree: ast.Module) -> list[ast.AST]:
    return list(ast.walk(tree))


def mutants_of(path: str, source: str) -> list[Mutant]:
    """Every mutant of ``source``, in a stable order."""
    tree = ast.parse(source, filename=path)
    skip = _skipped_subtrees(tree)
    operands = _comparison_operands(tree)
    in_functions = _in_functions(tree)
    nodes = _mutable_nodes(tree)
    position = {id(n): i for i, n in enumerate(nodes)}
    found: list[Mutant] = []

    def add(node: ast.AST, operator: str, replacement: ast.AST, texts: tuple[str, str] | None = None) -> None:
        original, mutated = texts or (ast.unparse(node), ast.unparse(replacement))
        line = getattr(node, "lineno", 0)
        lines = None
        if id(node) in in_functions:
            lines = frozenset({in_functions[id(node)], *range(line, getattr(node, "end_lineno", line) + 1)})
        found.append(Mutant(path, line, operator, original, mutated, position[id(node)], replacement, lines))

    for node in nodes:
        if id(node) in skip:
            continue
        generators: list[Iterator[Mutation]] = [
            _comparison(node),
            _boolean(node),
            _constant(node, id(node) in operands),
            _min_max(node),
        ]
        if id(node) in in_functions:
            generators.append(_dropped(node))
        for generator in generators:
            for operator, replacement in generator:
                add(node, operator, replacement)
    for table in _tables(tree):
        if id(table) not in skip:
            for row, pair, swapped, replacement in _swapped_cells(table):
                add(row, "swapped-cells", replacement, (pair, swapped))
    return found


def mutated_code(path: str, source: str, mutant: Mutant) -> CodeType:
    """The module compiled with ``mutant`` applied (the tree is parsed again: mutants share nothing)."""
    tree = ast.parse(source, filename=path)
    target = _mutable_nodes(tree)[mutant.index]
    replacement = copy.deepcopy(mutant.replacement)
    ast.copy_location(replacement, target)
    for parent in ast.walk(tree):
        for name, value in ast.iter_fields(parent):
            if value is target:
                setattr(parent, name, replacement)
            elif isinstance(value, list) and any(v is target for v in value):
                value[next(i for i, v in enumerate(value) if v is target)] = replacement
    ast.fix_missing_locations(tree)
    return compile(tree, str(ROOT / path), "exec")


# ---------------------------------------------------------------------------------------------
# Running the tests against one mutant, in a forked child.


def module_name(path: str) -> str:
    parts = list(Path(path).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


class _MutantLoader(importlib.machinery.SourceFileLoader):
    def __init__(self, fullname: str, path: str, code: CodeType) -> None:
        super().__init__(fullname, path)
        self._code = code

    def get_code(self, fullname: str) -> CodeType:
        return self._code


class _MutantFinder:
    """A meta-path finder that serves one module from a compiled (mutated) tree."""

    def __init__(self, name: str, path: str, code: CodeType) -> None:
        self.name, self.path, self.code = name, path, code

    def find_spec(
        self, fullname: str, path: object = None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.name:
            return None
        file = str(ROOT / self.path)
        loader = _MutantLoader(fullname, file, self.code)
        package = [str(Path(file).parent)] if file.endswith("__init__.py") else None
        return importlib.util.spec_from_file_location(fullname, file, loader=loader, submodule_search_locations=package)


def tests_for(path: str) -> list[str]:
    prefixes = sorted((p for p in FAST_TESTS if path.startswith(p)), key=len, reverse=True)
    if not prefixes:
        return []
    return [t for t in FAST_TESTS[prefixes[0]] if (ROOT / t).exists()]


_PYTEST_FLAGS = ("-x", "-q", "-p", "no:cacheprovider", "-m", "not integration", "--no-header", "-W", "ignore")


class _Recorder:
    """A pytest plugin for the baseline: each test in run order, its time, whether it passed, and
    the lines of the modules under test it ran (a line tracer limited to those files)."""

    def __init__(self, paths: Sequence[str]) -> None:
        self.files = {str(ROOT / p): p for p in paths}
        self.tests: dict[str, list[Any]] = {}  # node id → [seconds, passed, {path: lines}]
        self.at_import: dict[str, set[int]] = {}  # lines run while collecting, before any test
        self.hits = self.at_import

    def trace(self, frame: FrameType, event: str, arg: object) -> Callable[..., Any] | None:
        path = self.files.get(frame.f_code.co_filename)
        if path is None:
            return None
        self.hits.setdefault(path, set()).add(frame.f_lineno)
        return self._line

    def _line(self, frame: FrameType, event: str, arg: object) -> Callable[..., Any]:
        if event == "line":
            self.hits.setdefault(self.files[frame.f_code.co_filename], set()).add(frame.f_lineno)
        return self._line

    def pytest_runtest_logstart(self, nodeid: str, location: object) -> None:
        self.hits = {}
        self.tests[nodeid] = [0.0, True, self.hits]

    def pytest_runtest_logreport(self, report: Any) -> None:
        entry = self.tests.setdefault(report.nodeid, [0.0, True, self.hits])
        entry[0] += float(report.duration)
        entry[1] = entry[1] and not report.failed

    def dump(self) -> dict[str, Any]:
        tests = {n: [t, ok, {p: sorted(v) for p, v in hits.items()}] for n, (t, ok, hits) in self.tests.items()}
        return {"tests": tests, "at_import": {p: sorted(v) for p, v in self.at_import.items()}}


def _child(args: Sequence[str], finder: _MutantFinder | None, recorder: _Recorder | None, report: int | None) -> None:
    """In the forked child: install the mutant (or the recorder), run pytest quietly, exit with its status."""
    import threading

    import pytest

    os.chdir(ROOT)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    sys.dont_write_bytecode = True
    if finder is not None:
        sys.meta_path.insert(0, finder)
    if recorder is not None:
        sys.settrace(recorder.trace)
        threading.settrace(recorder.trace)
    status = int(pytest.main([*_PYTEST_FLAGS, *args], plugins=[recorder] if recorder else []))
    sys.settrace(None)
    if recorder is not None and report is not None:
        names = [n for n in sys.modules if n.split(".")[0] not in PROJECT]
        os.write(report, json.dumps({"imported": names, **recorder.dump()}).encode())
    os._exit(status)


def _fork(
    args: Sequence[str], finder: _MutantFinder | None, recorder: _Recorder | None = None, report: int | None = None
) -> int:
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child never returns
        try:
            _child(args, finder, recorder, report)
        finally:
            os._exit(99)
    return pid


@dataclass(frozen=True)
class Baseline:
    """The unmutated run: the fast tests that pass, in order, and the lines of each module each ran."""

    order: tuple[str, ...]
    covered: dict[str, dict[str, frozenset[int]]]  # node id → path → lines
    at_import: dict[str, frozenset[int]]  # path → lines run while the tests were collected
    imported: tuple[str, ...]
    left_out: int  # tests slower than --slow
    took: float
    durations: dict[str, float] = field(default_factory=dict)  # node id → seconds, traced

    def timeout_for(self, selected: Sequence[str]) -> float:
        """How long a mutant's run may take: a child's start plus five times what its tests took in
        the (traced, so slower) baseline, and never longer than twice the whole baseline. A whole
        baseline is many minutes on a loaded machine, and a mutant that loops forever would
        otherwise hold a worker that long."""
        own = MUTANT_START + 5 * sum(self.durations.get(n, 0.0) for n in selected)
        return max(10.0, min(2 * self.took, own))

    def tests_for(self, mutant: Mutant) -> list[str]:
        """The tests that run the mutated code (every test, for code that runs at import)."""
        if mutant.lines is None or self.at_import.get(mutant.path, frozenset()) & mutant.lines:
            return list(self.order)
        return [n for n in self.order if self.covered[n].get(mutant.path, frozenset()) & mutant.lines]


def baseline(paths: Sequence[str], tests: Sequence[str], slow: float) -> Baseline:
    """Run the fast tests once unmutated, recording which of them run which lines of ``paths``."""
    read, write = os.pipe()
    start = time.monotonic()
    pid = _fork(tests, None, _Recorder(paths), write)
    os.close(write)
    chunks: list[bytes] = []
    while chunk := os.read(read, 1 << 16):
        chunks.append(chunk)
    os.close(read)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"the fast tests fail without a mutant: pytest {' '.join([*_PYTEST_FLAGS, *tests])}")
    answer = json.loads(b"".join(chunks))
    runs = answer["tests"]
    # Quickest first: with -x a killed mutant stops at its first failing test.
    fast = [n for n, (took, ok, _) in runs.items() if ok and took <= slow]
    order = tuple(sorted(fast, key=lambda n: runs[n][0]))
    covered = {n: {p: frozenset(lines) for p, lines in runs[n][2].items()} for n in order}
    at_import = {p: frozenset(lines) for p, lines in answer["at_import"].items()}
    took = time.monotonic() - start
    durations = {n: runs[n][0] for n in order}
    return Baseline(order, covered, at_import, tuple(answer["imported"]), len(runs) - len(order), took, durations)


def preimport(names: Sequence[str]) -> None:
    for name in names:
        if name and name not in sys.modules:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: S112 - a module that imports only in context is simply left out
                continue


def run_mutants(path: str, mutants: Sequence[Mutant], base: Baseline, jobs: int) -> dict[Mutant, str]:
    """Each mutant against the tests that run its line, ``jobs`` at once: killed, survived,
    timeout (:meth:`Baseline.timeout_for`), uncovered (no fast test runs the line) or invalid (the
    mutated tree does not compile)."""
    source = (ROOT / path).read_text(encoding="utf-8")
    name = module_name(path)
    results: dict[Mutant, str] = {}
    pending = list(mutants)
    running: dict[int, tuple[Mutant, float]] = {}
    while pending or running:
        while pending and len(running) < jobs:
            mutant = pending.pop(0)
            selected = base.tests_for(mutant)
            if not selected:
                results[mutant] = "uncovered"
                continue
            try:
                code = mutated_code(path, source, mutant)
            except (SyntaxError, ValueError, TypeError):
                results[mutant] = "invalid"
                continue
            deadline = time.monotonic() + base.timeout_for(selected)
            running[_fork(selected, _MutantFinder(name, path, code))] = (mutant, deadline)
        for pid, (mutant, deadline) in list(running.items()):
            outcome = _poll(pid, deadline)
            if outcome is not None:
                results[mutant] = outcome
                del running[pid]
        select.select([], [], [], 0.02)
    return results


def _poll(pid: int, deadline: float) -> str | None:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        return "survived" if os.waitstatus_to_exitcode(status) == 0 else "killed"
    if time.monotonic() > deadline:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        return "timeout"
    return None


# ---------------------------------------------------------------------------------------------
# Equivalent mutants and the report.


Equivalents = dict[tuple[str, int, str, str | None], str]
_EQUIVALENT = re.compile(
    r"^(?P<path>[^\s:]+):(?P<line>\d+):(?P<operator>[a-z-]+)(?:\[(?P<mutated>[^\]]*)\])?\s+(?P<reason>\S.*)$"
)


def load_equivalents(file: Path = EQUIVALENTS) -> Equivalents:
    """``path:line:operator  reason`` lines → reason. ``path:line:operator[mutant]`` names one mutant
    of several on that line and operator (the mutant's text as the report prints it). ``#`` comments."""
    found: Equivalents = {}
    if not file.exists():
        return found
    for raw in file.read_text(encoding="utf-8").splitlines():
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        match = _EQUIVALENT.match(text)
        if match is None or match["operator"] not in OPERATORS:
            raise SystemExit(f"{file.name}: {raw!r} needs path:line:operator and a reason")
        found[(match["path"], int(match["line"]), match["operator"], match["mutated"])] = match["reason"]
    return found


def is_equivalent(mutant: Mutant, equivalents: Equivalents) -> bool:
    key = (mutant.path, mutant.line, mutant.operator)
    return (*key, None) in equivalents or (*key, mutant.mutated) in equivalents


@dataclass
class Score:
    path: str
    mutants: int = 0
    killed: int = 0
    timeout: int = 0
    equivalent: int = 0
    invalid: int = 0
    survived: list[tuple[Mutant, str]] = field(default_factory=list)  # with "survived" or "uncovered"
    killed_equivalents: list[Mutant] = field(default_factory=list)  # declared equivalent, yet a test failed

    @property
    def score(self) -> float:
        """Killed (a timeout counts: the tests noticed) over the mutants that can be killed."""
        scored = self.mutants - self.equivalent - self.invalid
        return (self.killed + self.timeout) / scored if scored else 1.0


def score_of(path: str, results: dict[Mutant, str], equivalents: Equivalents) -> Score:
    score = Score(path, mutants=len(results))
    for mutant, outcome in results.items():
        if is_equivalent(mutant, equivalents):
            score.equivalent += 1
            if outcome in ("killed", "timeout"):
                score.killed_equivalents.append(mutant)
        elif outcome == "killed":
            score.killed += 1
        elif outcome == "timeout":
            score.timeout += 1
        elif outcome == "invalid":
            score.invalid += 1
        else:
            score.survived.append((mutant, outcome))
    score.survived.sort(key=lambda pair: (pair[0].line, pair[0].index))
    return score


def print_score(score: Score, out: Callable[[str], None] = print) -> None:
    out(
        f"{score.path}: mutants {score.mutants}, killed {score.killed}, timeout {score.timeout}, "
        f"survived {len(score.survived)}, equivalent {score.equivalent}, invalid {score.invalid}, "
        f"score {score.score:.1%}"
    )
    for mutant, outcome in score.survived:
        note = "  (no fast test runs this line)" if outcome == "uncovered" else ""
        out(f"  survived {mutant.label()}{note}")
    for mutant in score.killed_equivalents:
        out(f"  declared equivalent but a test kills it (fix {EQUIVALENTS.name}): {mutant.label()}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.mutate", description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="+", help="modules or folders under shared/")
    parser.add_argument("--jobs", "-j", type=int, default=2, help="mutants run at once (default 2)")
    parser.add_argument("--limit", type=int, default=0, help="at most this many mutants per module, sampled (0: all)")
    parser.add_argument("--seed", type=int, default=16, help="the sample's seed (the same seed, the same sample)")
    parser.add_argument("--operator", action="append", choices=OPERATORS, help="only these operators")
    parser.add_argument("--slow", type=float, default=2.0, help="leave out tests slower than this in the baseline (s)")
    parser.add_argument("--min-score", type=float, default=0.0, help="exit 1 when a module scores below (0..1)")
    parser.add_argument(
        "--tests",
        action="append",
        metavar="PATH",
        help="run only this test path (repeatable) for every module, e.g. the unit tier on a busy machine",
    )
    args = parser.parse_args(argv)
    equivalents = load_equivalents()
    groups = group_by_tests(_expand(args.paths), args.tests)
    scores: list[Score] = []
    for tests, paths in groups.items():
        base = baseline(paths, tests, args.slow)
        preimport(base.imported)
        print(f"{len(base.order)} fast tests for {len(paths)} modules ({base.left_out} over {args.slow:g} s left out)")
        for path in paths:
            score = _mutate_one(path, args, base, equivalents)
            print_score(score)
            sys.stdout.flush()
            scores.append(score)
    _print_total(scores)
    return 1 if any(s.score < args.min_score for s in scores) else 0


def group_by_tests(paths: Sequence[str], only: Sequence[str] | None = None) -> dict[tuple[str, ...], list[str]]:
    """Modules grouped by their fast tests (:data:`FAST_TESTS`, or ``only`` for every module), so
    each group's baseline runs once; a module with no tests mapped is said and left out."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for path in paths:
        tests = tuple(only) if only else tuple(tests_for(path))
        if not tests:
            print(f"{path}: no fast tests mapped in devtools/mutate.py FAST_TESTS; skipped")
            continue
        groups.setdefault(tests, []).append(path)
    return groups


def _expand(paths: Sequence[str]) -> list[str]:
    found: list[str] = []
    for given in paths:
        target = ROOT / given
        files = sorted(target.rglob("*.py")) if target.is_dir() else [target]
        found.extend(str(f.relative_to(ROOT)) for f in files if f.exists())
    return found


def _mutate_one(path: str, args: argparse.Namespace, base: Baseline, equivalents: Equivalents) -> Score:
    mutants = mutants_of(path, (ROOT / path).read_text(encoding="utf-8"))
    if args.operator:
        mutants = [m for m in mutants if m.operator in args.operator]
    if args.limit and len(mutants) > args.limit:
        mutants = sorted(random.Random(args.seed).sample(mutants, args.limit), key=lambda m: m.index)  # noqa: S311
    return score_of(path, run_mutants(path, mutants, base, max(1, args.jobs)), equivalents)


def _print_total(scores: Sequence[Score]) -> None:
    total = sum(s.mutants for s in scores)
    killed = sum(s.killed + s.timeout for s in scores)
    scored = total - sum(s.equivalent + s.invalid for s in scores)
    print(f"total: mutants {total}, killed {killed}, scored {scored}, score {killed / scored if scored else 1:.1%}")


if __name__ == "__main__":
    sys.exit(main())
