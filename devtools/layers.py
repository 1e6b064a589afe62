"""The one-way rule between the layers of ``shared/``, as data, and the check that enforces it.

``docs/architecture.md`` draws the picture; this module is what ``tests/test_layers.py`` runs. Every
``import`` counts — at module level, inside functions and under ``TYPE_CHECKING`` — because a lazy
import is still a dependency: it only moves the failure from import time to the first call.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ALLOWED: dict[str, frozenset[str]] = {
    "core": frozenset({"core"}),
    "detect": frozenset({"core", "detect"}),
    "clients": frozenset({"core", "clients"}),
    "notify": frozenset({"core", "notify"}),
    "incidents": frozenset({"core", "detect", "clients", "notify", "incidents"}),
    "checks": frozenset({"core", "detect", "clients", "checks"}),
    "app": frozenset({"core", "detect", "clients", "notify", "incidents", "checks", "app"}),
    "cli": frozenset({"core", "detect", "clients", "notify", "incidents", "checks", "app", "cli", "devtools"}),
}
"""Layer → the layers (and outside packages of this repository) its modules may import."""

FOREIGN = ("simulator", "devtools", "functions", "function_app", "tests", "bench")
"""This repository's packages that are not deployed with ``shared/`` or that sit above it."""


@dataclass(frozen=True, order=True)
class Violation:
    """One import that points the wrong way: ``module`` (a file's dotted name) imports ``target``."""

    module: str
    line: int
    target: str

    def __str__(self) -> str:
        return f"{self.module}:{self.line} imports {self.target}"


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(tree: ast.AST, module: str, is_package: bool) -> Iterator[tuple[int, str]]:
    """Every absolute module name ``tree`` imports, relative imports resolved against ``module``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield node.lineno, target
            if target == "shared":  # `from shared import core`: the names are the layers
                for alias in node.names:
                    yield node.lineno, f"{target}.{alias.name}"


def _layer_of(target: str) -> str | None:
    """The layer (or foreign package) a dotted name belongs to; None for third-party and stdlib."""
    parts = target.split(".")
    if parts[0] == "shared":
        return parts[1] if len(parts) > 1 and parts[1] in ALLOWED else None
    return parts[0] if parts[0] in FOREIGN else None


def violations(root: Path) -> list[Violation]:
    """Every import under ``root/shared`` that breaks :data:`ALLOWED`, sorted."""
    found: set[Violation] = set()
    for path in sorted((root / "shared").rglob("*.py")):
        module = _module_name(path, root)
        parts = module.split(".")
        layer = parts[1] if len(parts) > 1 else None
        if layer is None:
            continue  # shared/__init__.py: a docstring only
        if layer not in ALLOWED:
            found.add(Violation(module, 1, f"(no layer: shared.{layer} is not in devtools/layers.py)"))
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, target in _imports(tree, module, path.name == "__init__.py"):
            other = _layer_of(target)
            if other is not None and other not in ALLOWED[layer]:
                found.add(Violation(module, line, target))
    return sorted(found)
