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
# Optional extras: imported only by their package (postel.pg: the PostgreSQL store
# and its optional object store for bodies).
EXTRAS = {"postgresql": "pg", "s3": "pg"}


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
    optional = set().union(*(_declared(extra) for extra in EXTRAS))
    assert imported - declared - optional == set(), (
        "imported but not declared in [project] dependencies"
    )
    assert declared - imported - NOT_IMPORTED == set(), "declared but not imported"


def test_optional_extras_are_imported_by_their_package_only() -> None:
    dists = packages_distributions()
    for extra, package in EXTRAS.items():
        wanted = _declared(extra)
        inside = {
            _norm(dists[m][0])
            for m in _imported_modules(ROOT / "src" / "postel" / package)
            if m in dists
        }
        assert wanted <= inside, f"[{extra}] declared but not imported by postel.{package}"
        outside = {
            _norm(dists[m][0])
            for path in (ROOT / "src" / "postel").iterdir()
            if path.name != package and (path.is_dir() or path.suffix == ".py")
            for m in _imported_modules_of(path)
            if m in dists
        }
        assert wanted & outside == set(), f"[{extra}] imported outside postel.{package}"


def _imported_modules_of(path: Path) -> set[str]:
    if path.is_dir():
        return _imported_modules(path)
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module.split(".")[0])
    return out
