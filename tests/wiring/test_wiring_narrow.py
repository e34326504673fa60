"""Library functions take narrow settings, not the whole Config; a CLI command
opens each database it uses once, through CLIRoot, and closes it at exit."""

from __future__ import annotations

import ast
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from wiring_env import write_config

import postel
from postel.cli.main import cli
from postel.config import load_config
from postel.datadir import DataDir
from postel.wiring import CLIRoot

SRC = Path(postel.__file__).parent

# Library functions that get what they read from the configuration as plain
# arguments or small settings, built by their callers.
NARROW = [
    ("certcheck.py", "wanted_names"),
    ("metrics/service.py", "start_recording"),
    ("metrics/certs.py", "listener_certificates"),
    ("dnsrecords.py", "caa_records"),
    ("dnsrecords.py", "submission_records"),
    ("dnsrecords.py", "imap_records"),
    ("dnsrecords.py", "mtasts_policy_text"),
    ("preflight/check.py", "endpoints"),
    ("web/admin/dnsbl.py", "own_addresses"),
    ("web/admin/certificates.py", "served_certificates"),
    ("tlsrptsend/service.py", "https_post"),
    ("server.py", "check_resolver"),
]

_CONFIG = re.compile(r"\bConfig\b")


def _parameters(module: str, function: str) -> dict[str, str]:
    tree = ast.parse((SRC / module).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == function:
            a = node.args
            return {
                p.arg: ast.unparse(p.annotation) if p.annotation is not None else ""
                for p in a.posonlyargs + a.args + a.kwonlyargs
            }
    raise AssertionError(f"{module}: no function {function}")


@pytest.mark.parametrize(("module", "function"), NARROW)
def test_library_function_does_not_take_the_whole_config(module: str, function: str) -> None:
    params = _parameters(module, function)
    assert [p for p, ann in params.items() if _CONFIG.search(ann)] == []


@contextmanager
def connections() -> Iterator[list[tuple[str, sqlite3.Connection]]]:
    """Every sqlite3.connect while the block runs: (file name, connection)."""
    made: list[tuple[str, sqlite3.Connection]] = []
    real = sqlite3.connect

    def connect(database: Any, *args: Any, **kw: Any) -> sqlite3.Connection:
        conn = real(database, *args, **kw)
        name = str(database)
        if name.startswith("file:"):
            name = name[len("file:") :].split("?", 1)[0]
        if name != ":memory:":
            made.append((name, conn))
        return conn

    sqlite3.connect = connect  # type: ignore[assignment]
    try:
        yield made
    finally:
        sqlite3.connect = real


def _is_closed(conn: sqlite3.Connection) -> bool:
    try:
        conn.execute("SELECT 1")
    except sqlite3.ProgrammingError:
        return True
    return False


def test_the_cli_root_opens_each_database_once_and_closes_it(tmp_path: Path) -> None:
    datadir = DataDir(tmp_path / "data")
    with connections() as made, CLIRoot(datadir) as root:
        for _ in range(2):
            root.queue_entries.entries()
            root.resultdb.suppressions()
            root.evaldb.suppressions()
            root.tlsrptdb.list_reports(limit=1)
            root.dmarcdb.list_reports(limit=1)
            root.credentials.accounts()
            root.accounts.account("alice")
    names = sorted(Path(n).relative_to(datadir.root).as_posix() for n, _ in made)
    assert names == sorted(
        [
            "queue/index.db",
            datadir.tlsrptresult_db.name,
            datadir.dmarceval_db.name,
            datadir.tlsrpt_db.name,
            datadir.dmarcrpt_db.name,
            "auth.db",
            "accounts/alice/index.db",
        ]
    )
    assert all(_is_closed(conn) for _, conn in made)


COMMANDS = [
    ["queue", "list"],
    ["tlsrpt", "list"],
    ["tlsrpt", "suppress", "add", "tls@example.net"],
    ["tlsrpt", "suppress", "list"],
    ["dmarc", "list"],
    ["dmarc", "suppress", "add", "dmarc@example.net"],
    ["dmarc", "suppress", "list"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_cli_command_opens_each_database_once_and_closes_it(
    tmp_path: Path, command: list[str]
) -> None:
    config_dir = write_config(tmp_path / "config")
    cfg = load_config(config_dir)
    with connections() as made:
        result = CliRunner().invoke(cli, [*command, "--config", str(config_dir)])
    assert result.exit_code == 0, result.output
    names = [Path(n).relative_to(cfg.datadir.root).as_posix() for n, _ in made]
    assert names and len(names) == len(set(names)), names
    assert all(_is_closed(conn) for _, conn in made)
