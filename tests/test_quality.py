"""Quality checks that are facts about the repository (pins, light imports, documented settings).

mypy and ruff are not run from here: they are ``make lint`` and ``make typecheck``, which ``make test``
runs beside pytest (:func:`test_make_test_runs_every_gate` holds that)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_test_runs_every_gate() -> None:
    """``make test`` = ruff + mypy + pytest + checkov (dry run: ``make -n`` prints what it would run)."""
    result = _run("make", "-n", "--no-print-directory", "test", "BIN=" + str(BIN), "STAMP=", "AZURITE=", "CHROMIUM=")
    assert result.returncode == 0, result.stderr
    commands = result.stdout
    for gate in ("/ruff check .", "/ruff format --check .", "/mypy", "/python -m pytest", "scripts/checkov.sh"):
        assert gate in commands, (gate, commands)


def test_core_never_imports_azure_functions() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "shared").rglob("*.py")
        if "azure.functions" in p.read_text(encoding="utf-8") and "import azure.functions" in p.read_text("utf-8")
    ]
    assert offenders == []


def test_requirements_pinned_and_no_worker() -> None:
    lines = [
        ln.strip()
        for ln in (ROOT / "requirements.txt").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    assert all("==" in ln for ln in lines), lines
    assert not any(ln.lower().startswith("azure-functions-worker") for ln in lines)


def test_function_app_import_is_light() -> None:
    """Cold start: importing the app must not import msgraph, monitor-query or the storage SDKs."""
    code = (
        "import sys, function_app; heavy=[m for m in ('msgraph','azure.monitor.query','azure.data.tables',"
        "'azure.storage.queue','azure.identity','jinja2') if m in sys.modules]; print(','.join(heavy))"
    )
    result = _run(sys.executable, "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_readme_documents_every_setting() -> None:
    """Each setting ``shared/core/settings.py`` reads has a row in the README's settings table (the
    Bicep/deploy.md side is held by tests/test_infra.py)."""
    import re

    from shared.core.settings import Settings

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Settings", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", section))
    names = {f.alias for f in Settings.model_fields.values() if f.alias}
    assert sorted(names - documented) == []


def test_function_app_import_does_not_load_pydantic() -> None:
    """Declaring the bindings needs only names (shared.core.names); settings validation (pydantic, about
    150 ms) waits for the first invocation."""
    result = _run(sys.executable, "-c", "import sys, function_app; print('pydantic' in sys.modules)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
