"""devtools.suite_time: the figures read from a pytest run's output (``--durations=0``)."""

from __future__ import annotations

from devtools.suite_time import summarize

OUTPUT = """\
........ [100%]
============================= slowest durations =============================
72.29s call     tests/crash/test_crash.py::test_every_step
16.43s setup    tests/crash/test_crash.py::test_every_step
5.10s call     tests/test_simulator.py::test_restores
0.50s teardown tests/test_simulator.py::test_restores
2305 passed, 2 skipped, 164 warnings in 406.92s (0:06:46)
"""


def test_sums_every_phase_and_ranks_files_and_tests() -> None:
    text = summarize(OUTPUT, top=2)
    assert text.splitlines() == [
        "pytest wall: 406.92 s",
        "sum of durations: 94.3 s (call 77.4) (setup 16.4) (teardown 0.5)",
        "slowest 2 files:",
        "     88.7  tests/crash/test_crash.py",
        "      5.6  tests/test_simulator.py",
        "slowest 2 tests:",
        "     88.7  tests/crash/test_crash.py::test_every_step",
        "      5.6  tests/test_simulator.py::test_restores",
    ]


def test_truncated_malformed_and_hostile_output_is_read_as_far_as_it_goes() -> None:
    truncated = OUTPUT[: OUTPUT.index("5.10s")]
    assert summarize(truncated, top=1).splitlines()[:2] == [
        "pytest wall: ? s",
        "sum of durations: 88.7 s (call 72.3) (setup 16.4)",
    ]
    hostile = "x" * 1_000_000 + "\n1e9s call a::b\n-3s call a::c\nNaNs call a::d\n\x00\x1b[31m0.1s call a::e\n"
    assert summarize(hostile, top=1).splitlines()[:2] == ["pytest wall: ? s", "sum of durations: 0.0 s "]
    assert summarize("", top=0).splitlines() == [
        "pytest wall: ? s",
        "sum of durations: 0.0 s ",
        "slowest 0 files:",
        "slowest 0 tests:",
    ]
