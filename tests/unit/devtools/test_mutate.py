"""devtools/mutate.py: which mutants a source yields, that a mutant compiles to the changed code,
the equivalents list, and the score arithmetic (the forked runner is exercised by `make mutation`)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from devtools.mutate import Baseline, Mutant, group_by_tests, load_equivalents, mutants_of, mutated_code, score_of

SOURCE = '''
TABLE = (
    ("a", 1, True),
    ("b", 2, False),
)


def f(x, items):
    """doc"""
    if x < 3 and not items:
        log.info("x %s", x)
        return min(x, 2)
    y = x == "on"
    items.append(y)
    return None
'''


def labels(source: str = SOURCE) -> list[tuple[int, str, str, str]]:
    return sorted((m.line, m.operator, m.original, m.mutated) for m in mutants_of("m.py", source))


def test_every_operator_on_a_small_module() -> None:
    assert labels() == [
        (3, "constant", "1", "0"),
        (3, "constant", "1", "2"),
        (3, "constant", "True", "False"),
        (3, "swapped-cells", "'a', 1", "1, 'a'"),
        (3, "swapped-cells", "1, True", "True, 1"),
        (4, "constant", "2", "1"),
        (4, "constant", "2", "3"),
        (4, "constant", "False", "True"),
        (4, "swapped-cells", "'b', 2", "2, 'b'"),
        (4, "swapped-cells", "2, False", "False, 2"),
        (10, "boolean", "x < 3 and (not items)", "x < 3 or not items"),
        (10, "comparison", "x < 3", "x <= 3"),
        (10, "constant", "3", "2"),
        (10, "constant", "3", "4"),
        (10, "not-removed", "not items", "items"),
        (12, "constant", "2", "1"),
        (12, "constant", "2", "3"),
        (12, "dropped", "return min(x, 2)", "return None"),
        (12, "min-max", "min(x, 2)", "max(x, 2)"),
        (13, "comparison", "x == 'on'", "x != 'on'"),
        (13, "constant", "'on'", "''"),
        (13, "dropped", "y = x == 'on'", "y = None"),
        (14, "dropped", "items.append(y)", "pass"),
    ]


def test_docstrings_annotations_type_checking_and_log_calls_are_left_alone() -> None:
    source = '''
from typing import TYPE_CHECKING
if TYPE_CHECKING:
    X = 1 < 2
__all__ = ["f"]


def f(x: int = 1) -> bool:
    """1 < 2"""
    log.warning("skipped %s", x)
    return True
'''
    assert labels(source) == [
        (8, "constant", "1", "0"),
        (8, "constant", "1", "2"),
        (11, "constant", "True", "False"),
        (11, "dropped", "return True", "return None"),
    ]


def run(mutant: Mutant, *args: Any) -> Any:
    namespace: dict[str, Any] = {"log": SimpleNamespace(info=lambda *args: None)}
    exec(mutated_code("m.py", SOURCE, mutant), namespace)
    return namespace["f"](*args), namespace["TABLE"]


def test_a_mutant_compiles_to_the_changed_code_and_only_that() -> None:
    by_label = {(m.line, m.operator, m.mutated): m for m in mutants_of("m.py", SOURCE)}
    assert run(by_label[(12, "min-max", "max(x, 2)")], 1, []) == (2, (("a", 1, True), ("b", 2, False)))
    assert run(by_label[(3, "swapped-cells", "1, 'a'")], 5, []) == (None, ((1, "a", True), ("b", 2, False)))
    items: list[bool] = []
    assert run(by_label[(14, "dropped", "pass")], 5, items)[0] is None
    assert items == []
    assert run(by_label[(13, "comparison", "x != 'on'")], 5, items)[0] is None
    assert items == [True]


def test_the_equivalents_list(tmp_path: Path) -> None:
    listed = tmp_path / "eq.txt"
    listed.write_text(
        "# comment\n\nshared/x.py:12:dropped  only a cache: the value is recomputed\n"
        "shared/y.py:37:constant[-1]  found has one item: found[-1] is found[0]\n"
    )
    assert load_equivalents(listed) == {
        ("shared/x.py", 12, "dropped", None): "only a cache: the value is recomputed",
        ("shared/y.py", 37, "constant", "-1"): "found has one item: found[-1] is found[0]",
    }
    listed.write_text("shared/x.py:12:dropped\n")
    with pytest.raises(SystemExit, match="needs path:line:operator and a reason"):
        load_equivalents(listed)
    listed.write_text("shared/x.py:12:typo  reason\n")
    with pytest.raises(SystemExit, match="needs path:line:operator and a reason"):
        load_equivalents(listed)


def test_the_score_leaves_out_equivalent_and_invalid_mutants() -> None:
    one_a_line = {m.line: m for m in mutants_of("m.py", SOURCE)}
    mutants = [one_a_line[line] for line in (3, 4, 10, 12, 13, 14)]
    outcomes = ["killed", "timeout", "survived", "uncovered", "invalid", "survived"]
    results = dict(zip(mutants, outcomes, strict=True))
    equivalent = {("m.py", 14, mutants[5].operator, None): "reason", ("m.py", 13, "constant", "'x'"): "no such"}
    score = score_of("m.py", results, equivalent)
    assert (score.mutants, score.killed, score.timeout, score.invalid, score.equivalent) == (6, 1, 1, 1, 1)
    assert [(m.line, outcome) for m, outcome in score.survived] == [(10, "survived"), (12, "uncovered")]
    assert score.score == 2 / 4


def test_a_mutants_timeout_follows_its_own_tests_not_the_whole_baseline() -> None:
    """A 13-minute baseline (a loaded machine) gave every mutant 26 minutes, so one mutant that
    loops forever held a worker that long; its tests took 0.2 s."""
    base = Baseline(("a", "b"), {}, {}, (), 0, took=780.0, durations={"a": 0.2, "b": 4.0})
    assert base.timeout_for(["a"]) == 61.0
    assert base.timeout_for(["a", "b"]) == 81.0
    assert Baseline(("a",), {}, {}, (), 0, took=20.0, durations={"a": 0.2}).timeout_for(["a"]) == 40.0
    assert Baseline(("a",), {}, {}, (), 0, took=1.0, durations={"a": 0.2}).timeout_for(["a"]) == 10.0


def test_modules_are_grouped_by_their_tests_or_by_the_tests_given() -> None:
    paths = ["shared/detect/kql.py", "shared/detect/payload.py", "shared/core/catalogue.py", "shared/nowhere.py"]
    groups = group_by_tests(paths)
    assert [sorted(modules) for modules in groups.values()] == [
        ["shared/detect/kql.py", "shared/detect/payload.py"],
        ["shared/core/catalogue.py"],
    ]
    assert group_by_tests(paths, ["tests/unit/detect"]) == {("tests/unit/detect",): paths}
