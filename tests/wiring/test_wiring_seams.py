"""The seams between packages are typed, and the account store is reached
through its interface (postel.store.api), not through SQLite or paths."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import postel

SRC = Path(postel.__file__).parent

# Modules that hand parts to one another: what crosses them is typed.
SEAMS = [
    "services.py",
    "server.py",
    "wiring.py",
    "web/app.py",
    "web/listen.py",
    "web/admin/state.py",
    "web/webmail/state.py",
    "web/webmail/events.py",
    "web/webmail/message.py",
    "web/webmail/mailbox.py",
    "web/webmail/manage.py",
    "web/webmail/bulk.py",
    "smtpworkers/worker.py",
    "cli/account.py",
    "cli/options.py",
    "cli/tlsrpt.py",
    "imapserver/service.py",
    "imapserver/storeapi.py",
    "smtpserver/service.py",
    "smtpserver/context.py",
    "smtpserver/submit.py",
]
# Where the SQLite account store may be named: its own package, the roots
# that build each process (postel/wiring.py), the tools that work on the files
# offline, and the queue, whose entries sit beside the SQLite store: the queue
# itself and the adding-only queues built where the server's is not at hand.
STORE_BUILDERS = {
    "wiring.py",
    "verifydata",
    "gentestdata.py",
    "backup",
    "queue",
    "delivery",
    "tlsrptsend/service.py",
    "web/webmail/app.py",
    # `postel migrate-store`: copies a data directory into PostgreSQL and back.
    "pg/copytopg.py",
    "pg/copytosqlite.py",
}
SQLITE_STORE = {"postel.store.store", "postel.store.account", "postel.store.accountbase"}
SQLITE_NAMES = {"postel.store.Store", "postel.store.AccountStore"}


def _annotations(tree: ast.AST) -> Iterator[tuple[str, ast.expr]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            args = node.args
            every = args.posonlyargs + args.args + args.kwonlyargs
            for a in every:
                if a.annotation is not None:
                    yield f"{node.name}({a.arg})", a.annotation
            if node.returns is not None:
                yield f"{node.name} ->", node.returns
        elif isinstance(node, ast.AnnAssign):
            yield ast.unparse(node.target), node.annotation


@pytest.mark.parametrize("module", SEAMS)
def test_no_any_at_a_seam(module: str) -> None:
    tree = ast.parse((SRC / module).read_text(encoding="utf-8"))
    untyped = [where for where, ann in _annotations(tree) if ast.unparse(ann) == "Any"]
    # A fake deliverer's catch-all deliver(*args) is no seam.
    untyped = [w for w in untyped if not w.startswith(("deliver(", "deliver ->"))]
    assert untyped == []


def _imports(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
            for alias in node.names:
                yield f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def _outside_store() -> Iterator[tuple[str, Path]]:
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if not rel.startswith("store/"):
            yield rel, path


def test_the_sqlite_account_store_is_named_only_where_it_is_built() -> None:
    found = []
    for rel, path in _outside_store():
        if rel in STORE_BUILDERS or rel.split("/")[0] in STORE_BUILDERS:
            continue
        for name in _imports(path):
            inside = name.startswith(tuple(s + "." for s in SQLITE_STORE))
            if name in SQLITE_STORE or name in SQLITE_NAMES or inside:
                found.append(f"{rel}: {name}")
    assert found == []


@pytest.mark.parametrize("package", ["imapserver", "web/webmail"])
def test_readers_of_messages_know_no_message_paths(package: str) -> None:
    # Message content comes through AccountMail.open_message/read_message:
    # where the store keeps it (postel.datadir's layout) is its own business.
    found = [
        f"{path.relative_to(SRC)}: {name}"
        for path in sorted((SRC / package).rglob("*.py"))
        for name in _imports(path)
        if name.startswith("postel.datadir")
    ]
    assert found == []
