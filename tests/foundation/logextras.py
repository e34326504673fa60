"""A static check of logging calls: no ``extra`` key may name a LogRecord
attribute (``logging.Logger.makeRecord`` raises KeyError for those, and only
when the level is enabled, so a test at info level never sees it).

The keys of ``extra`` are followed however the dict is built: a dict literal
(with ``**`` unpacking), ``dict(...)``, ``a | b``, a conditional, a local or
module-level variable (its assignments, ``v["k"] = ...``, ``v.update(...)``,
``v.setdefault(...)``, ``v |= ...``), or a call of a function or method of
the same module (its return statements). An ``extra`` whose keys cannot be
followed that way is reported too: every call must stay checkable.
"""

from __future__ import annotations

import ast
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

LOG_METHODS = frozenset(
    {"debug", "info", "warning", "warn", "error", "exception", "critical", "fatal", "log"}
)
# Every attribute of a LogRecord, the two the formatter adds, and taskName
# (Python 3.12+), whatever this Python's LogRecord has.
RESERVED = frozenset(
    set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}
)


@dataclass(frozen=True)
class Problem:
    path: str
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.text}"


class _Unknown(Exception):
    def __init__(self, node: ast.AST, why: str) -> None:
        super().__init__(why)
        self.node = node


def _scopes(tree: ast.Module) -> dict[ast.AST, ast.AST]:
    """Each node's innermost enclosing function (or the module)."""
    owner: dict[ast.AST, ast.AST] = {}

    def walk(node: ast.AST, scope: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            owner[child] = scope
            inner = child if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else scope
            walk(child, inner)

    walk(tree, tree)
    return owner


def _own_nodes(scope: ast.AST) -> Iterator[ast.AST]:
    """The nodes of *scope* outside nested functions."""
    stack = list(ast.iter_child_nodes(scope))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            stack.extend(ast.iter_child_nodes(node))


class _Resolver:
    def __init__(self, tree: ast.Module) -> None:
        self.tree = tree
        self.owner = _scopes(tree)
        self.functions: dict[str, list[ast.FunctionDef | ast.AsyncFunctionDef]] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                self.functions.setdefault(node.name, []).append(node)
        self._active: set[tuple[int, str]] = set()  # recursion guard

    def keys(self, node: ast.expr, scope: ast.AST) -> set[str]:
        """The keys a dict-valued expression can have; _Unknown if not followable."""
        if isinstance(node, ast.Dict):
            out: set[str] = set()
            for key, value in zip(node.keys, node.values, strict=True):
                if key is None:
                    out |= self.keys(value, scope)
                elif isinstance(key, ast.Constant) and isinstance(key.value, str):
                    out.add(key.value)
                else:
                    raise _Unknown(key, "a key that is not a string literal")
            return out
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id == "dict":
                return self._dict_call(node, scope)
            return self._returns(node.func.id, node)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if isinstance(node.func.value, ast.Name) and node.func.value.id in ("self", "cls"):
                return self._returns(node.func.attr, node)
            if node.func.attr == "copy":
                return self.keys(node.func.value, scope)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            return self.keys(node.left, scope) | self.keys(node.right, scope)
        if isinstance(node, ast.IfExp):
            return self.keys(node.body, scope) | self.keys(node.orelse, scope)
        if isinstance(node, ast.Constant) and node.value is None:
            return set()
        if isinstance(node, ast.Name):
            return self._variable(node, scope)
        raise _Unknown(node, f"an extra built by {type(node).__name__}")

    def _dict_call(self, node: ast.Call, scope: ast.AST) -> set[str]:
        out: set[str] = set()
        for arg in node.args:
            out |= self.keys(arg, scope)
        for kw in node.keywords:
            if kw.arg is None:
                out |= self.keys(kw.value, scope)
            else:
                out.add(kw.arg)
        return out

    def _returns(self, name: str, call: ast.AST) -> set[str]:
        defs = self.functions.get(name)
        if not defs:
            raise _Unknown(call, f"a call of {name}() defined outside this module")
        out: set[str] = set()
        for fn in defs:
            guard = (id(fn), "")
            if guard in self._active:
                continue
            self._active.add(guard)
            try:
                for node in _own_nodes(fn):
                    if isinstance(node, ast.Return) and node.value is not None:
                        out |= self.keys(node.value, fn)
            finally:
                self._active.discard(guard)
        return out

    def _variable(self, name: ast.Name, scope: ast.AST) -> set[str]:
        guard = (id(scope), name.id)
        if guard in self._active:
            return set()
        self._active.add(guard)
        try:
            out: set[str] = set()
            found = False
            for s in (scope, self.tree) if scope is not self.tree else (scope,):
                for keys in self._assignments(name.id, s):
                    out |= keys
                    found = True
                if found:
                    break
            if not found:
                raise _Unknown(name, f"{name.id} is not assigned in this module")
            return out
        finally:
            self._active.discard(guard)

    def _assignments(self, var: str, scope: ast.AST) -> Iterable[set[str]]:
        for node in _own_nodes(scope):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name) and target.id == var:
                        yield self.keys(node.value, scope)
                    elif (
                        isinstance(target, ast.Subscript)
                        and isinstance(target.value, ast.Name)
                        and target.value.id == var
                    ):
                        yield {self._literal_key(target.slice)}
            elif isinstance(node, ast.AnnAssign | ast.AugAssign) and node.value is not None:
                if isinstance(node.target, ast.Name) and node.target.id == var:
                    yield self.keys(node.value, scope)
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == var
            ):
                if node.func.attr == "update":
                    yield self._dict_call(node, scope)
                elif node.func.attr == "setdefault" and node.args:
                    yield {self._literal_key(node.args[0])}
            elif isinstance(node, ast.arg) and node.arg == var:
                raise _Unknown(node, f"{var} is a parameter")

    @staticmethod
    def _literal_key(node: ast.expr) -> str:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        raise _Unknown(node, "a key that is not a string literal")


def _is_log_call(node: ast.Call) -> ast.expr | None:
    if not isinstance(node.func, ast.Attribute) or node.func.attr not in LOG_METHODS:
        return None
    for kw in node.keywords:
        if kw.arg == "extra":
            return kw.value
    return None


def check_source(source: str, path: str = "<string>") -> list[Problem]:
    """The problems of every logging call with an ``extra`` in *source*."""
    tree = ast.parse(source, filename=path)
    resolver = _Resolver(tree)
    problems: list[Problem] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        extra = _is_log_call(node)
        if extra is None:
            continue
        try:
            keys = resolver.keys(extra, resolver.owner.get(node, tree))
        except _Unknown as e:
            problems.append(Problem(path, node.lineno, f"extra not checkable: {e}"))
            continue
        bad = sorted(keys & RESERVED)
        if bad:
            problems.append(
                Problem(
                    path, node.lineno, f"extra key(s) {', '.join(bad)} are LogRecord attributes"
                )
            )
    return problems


def check_tree(root: Path) -> list[Problem]:
    problems: list[Problem] = []
    for path in sorted(root.rglob("*.py")):
        problems += check_source(path.read_text(encoding="utf-8"), str(path))
    return problems
