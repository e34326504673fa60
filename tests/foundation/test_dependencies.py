"""pyproject declares exactly what src/postel imports: every third-party module imported is a
runtime dependency, and every runtime dependency is imported."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Needed at run time without being imported by postel: Starlette parses forms with it.
NOT_IMPORTED = {"python-multipart"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared(group: str | None = None) -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = project["dependencies"] if group is None else project["optional-dependencies"][group]
    return {_norm(re.split(r"[\[<>=!~; ]", d, maxsplit=1)[0]) for d in deps}


def _imported_modules(root: Path) -> set[str]:
    out: set[str] = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                out.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                out.add(node.module.split(".")[0])
    return out - set(sys.stdlib_module_names) - {"postel", "__future__"}


def test_runtime_dependencies_are_exactly_the_imported_ones() -> None:
    dists = packages_distributions()
    modules = _imported_modules(ROOT / "src" / "postel")
    unknown = sorted(m for m in modules if m not in dists)
    assert unknown == [], f"imported but not installed: {unknown}"
    imported = {_norm(dists[m][0]) for m in modules}
    declared = _declared()
    assert imported - declared == set(), "imported but not declared in [project] dependencies"
    assert declared - imported - NOT_IMPORTED == set(), "declared but not imported"
