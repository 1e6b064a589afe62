"""The layers of ``shared/`` depend one way (docs/architecture.md), checked over every import."""

from __future__ import annotations

import textwrap
from pathlib import Path

from devtools.layers import Violation, violations

ROOT = Path(__file__).resolve().parent.parent


def _key(v: Violation) -> str:
    return f"{v.module} imports {v.target}"


def test_shared_imports_point_one_way() -> None:
    assert [_key(v) for v in violations(ROOT)] == []


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return tmp_path


def test_a_wrong_import_is_found_wherever_it_hides(tmp_path: Path) -> None:
    """A deliberately wrong import fails the rule: at module level, inside a function, under
    TYPE_CHECKING, relative, and a core module reaching for the simulator or devtools."""
    root = _tree(
        tmp_path,
        {
            "shared/__init__.py": "",
            "shared/core/__init__.py": "",
            "shared/core/models.py": "from shared.detect.classify import RULES\n",
            "shared/core/clock.py": "def f():\n    import simulator.state\n",
            "shared/core/names.py": "import typing\nif typing.TYPE_CHECKING:\n    from devtools import demo\n",
            "shared/detect/__init__.py": "",
            "shared/detect/classify.py": "from ..clients import graph\nfrom shared.core.models import Record\n",
            "shared/clients/__init__.py": "",
            "shared/clients/graph.py": "from shared import app\nimport httpx\n",
            "shared/app/__init__.py": "",
            "shared/app/pipeline.py": "from shared.incidents import store\nfrom shared.cli.main import main\n",
            "shared/misc.py": "x = 1\n",
            "shared/stray/__init__.py": "",
        },
    )
    assert [str(v) for v in violations(root)] == [
        "shared.app.pipeline:2 imports shared.cli.main",
        "shared.clients.graph:1 imports shared.app",
        "shared.core.clock:2 imports simulator.state",
        "shared.core.models:1 imports shared.detect.classify",
        "shared.core.names:3 imports devtools",
        "shared.detect.classify:1 imports shared.clients",
        "shared.misc:1 imports (no layer: shared.misc is not in devtools/layers.py)",
        "shared.stray:1 imports (no layer: shared.stray is not in devtools/layers.py)",
    ]


def test_the_map_names_every_module() -> None:
    """docs/architecture.md is the map: every module of ``shared/`` appears in its layer's row."""
    rows = {}
    for line in (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("| `") and line.count("|") >= 4:
            rows[line.split("`")[1]] = line
    missing = []
    for path in sorted((ROOT / "shared").glob("*/*.py")) + sorted((ROOT / "shared").glob("*/*/")):
        layer, name = path.parent.name, path.stem if path.suffix else path.name
        if name.startswith("__") or name in {"templates", "__pycache__"}:
            continue
        if f"`{name}`" not in rows.get(layer, "") and f"`{name}/`" not in rows.get(layer, ""):
            missing.append(f"shared/{layer}/{name}")
    assert missing == []
