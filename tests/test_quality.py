"""Quality gates run as part of the suite: mypy (strict) and ruff, and the layering rule."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.quality


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)


def test_mypy_strict_clean() -> None:
    result = _run(str(BIN / "mypy"))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_ruff_clean() -> None:
    result = _run(str(BIN / "ruff"), "check", ".")
    assert result.returncode == 0, result.stdout[-4000:]
    result = _run(str(BIN / "ruff"), "format", "--check", ".")
    assert result.returncode == 0, result.stdout[-4000:]


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
