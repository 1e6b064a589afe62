"""The repository carries everything its code, tests and docs use: nothing reads or cites a file beside it.

A user's clone has only the repository; a test that reads a folder beside it fails there, and a docstring
citing a design note the repository does not hold sends readers nowhere. Published examples the tests
use live in ``tests/fixtures/reference/`` with their sources in ``SOURCES.md``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("tests", "shared", "functions", "simulator", "devtools", "bench", "docs", "scripts", "infra")
TOP_LEVEL = ("README.md", "Makefile", "function_app.py", "pyproject.toml", "host.json")
SUFFIXES = {".py", ".md", ".json", ".txt", ".toml", ".bicep", ".sh", ".cfg", ".ini", ".yaml", ".yml", ""}
# Spelled in pieces so this file does not match itself.
FORBIDDEN = ("../" + "shared", "DESIGN" + ".md", "PLATFORM" + ".md", "STYLE" + ".md", '"shared" / ' + '"reference"')


def scanned_files() -> list[Path]:
    files = [ROOT / name for name in TOP_LEVEL if (ROOT / name).is_file()]
    for top in SCANNED:
        files.extend(
            p
            for p in sorted((ROOT / top).rglob("*"))
            if p.is_file() and p.suffix in SUFFIXES and "__pycache__" not in p.parts
        )
    return files


def offenders(files: list[Path]) -> list[str]:
    found = []
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        name = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        found.extend(f"{name}: {needle}" for needle in FORBIDDEN if needle in text)
    return found


def test_nothing_reads_or_cites_outside_the_repository() -> None:
    files = scanned_files()
    assert len(files) > 100, "the scan must see the project's files"
    assert offenders(files) == []


@pytest.mark.parametrize("needle", FORBIDDEN)
def test_the_scan_catches_each_needle(tmp_path: Path, needle: str) -> None:
    planted = tmp_path / "planted.py"
    planted.write_text(f"# see {needle}\n", encoding="utf-8")
    assert offenders([planted]) == [f"{planted}: {needle}"]


def test_reference_fixtures_name_their_source() -> None:
    reference = ROOT / "tests" / "fixtures" / "reference"
    index = (reference / "SOURCES.md").read_text(encoding="utf-8")
    for path in sorted(reference.glob("*.json")):
        row = next((line for line in index.splitlines() if line.startswith(f"| {path.name} |")), "")
        assert "https://learn.microsoft.com/" in row, f"{path.name} has no published source in SOURCES.md"
