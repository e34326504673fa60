"""Checks of one database file: it opens, passes SQLite's integrity and
foreign key checks, has a schema version this program knows, has the schema
its migrations make, and every record parses."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from postel.databases import Database
from postel.db import DBError, Migration, integrity_check, migrate, open_db, schema_version


@dataclass
class DBResult:
    label: str  # path relative to the data dir
    version: int | None = None
    current: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # id -> stored size of each record owning a message file (databases with files).
    sizes: dict[int, int] | None = None
    # The recovery checkpoint (MessageFiles.checkpoint), when the store has one.
    checkpoint: int | None = None


def read_checkpoint(conn: sqlite3.Connection, key: str) -> int:
    """The recovery checkpoint kept in meta under *key* (0 when missing)."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return int(row[0]) if row is not None else 0


def connect_readonly(path: Path) -> sqlite3.Connection:
    """A read-only connection; never creates or changes the file."""
    conn = sqlite3.connect(
        path.resolve().as_uri() + "?mode=ro",
        uri=True,
        isolation_level=None,
        check_same_thread=False,
    )
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout = 10000")
    return conn


def memory_copy(conn: sqlite3.Connection) -> sqlite3.Connection:
    mem = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    mem.row_factory = sqlite3.Row
    conn.backup(mem)
    return mem


def reference_schema(migrations: list[Migration]) -> dict[str, tuple[str, list[str]]]:
    """{name: (type, columns)} of the tables and indexes the migrations make."""
    mem = sqlite3.connect(":memory:", isolation_level=None)
    mem.row_factory = sqlite3.Row
    try:
        migrate(mem, migrations, name="reference")
        return schema_of(mem)
    finally:
        mem.close()


def schema_of(conn: sqlite3.Connection) -> dict[str, tuple[str, list[str]]]:
    out: dict[str, tuple[str, list[str]]] = {}
    for r in conn.execute(
        "SELECT type, name FROM sqlite_master WHERE type IN ('table', 'index') "
        "AND name NOT LIKE 'sqlite_%'"
    ):
        pragma = "table_info" if r["type"] == "table" else "index_info"
        cols = [str(c["name"]) for c in conn.execute(f"PRAGMA {pragma}('{r['name']}')")]
        out[str(r["name"])] = (str(r["type"]), cols)
    return out


def compare_schema(
    label: str, want: dict[str, tuple[str, list[str]]], have: dict[str, tuple[str, list[str]]]
) -> list[str]:
    problems: list[str] = []
    for name, (kind, cols) in sorted(want.items()):
        if name not in have:
            problems.append(f"{label}: schema: {kind} {name!r} missing")
        elif have[name] != (kind, cols):
            problems.append(
                f"{label}: schema: {kind} {name!r} has columns {have[name][1]}, expected {cols}"
            )
    for name, (kind, _cols) in sorted(have.items()):
        if name not in want:
            problems.append(f"{label}: schema: unexpected {kind} {name!r}")
    return problems


def check_database(db: Database, path: Path, root: Path, *, do_migrate: bool = False) -> DBResult:
    label = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
    migrations = db.load_migrations()
    result = DBResult(label, current=len(migrations))
    if do_migrate:
        try:
            open_db(path, migrations).close()
        except (DBError, sqlite3.Error) as exc:
            result.problems.append(f"{label}: migrating: {exc}")
            return result
    try:
        conn = connect_readonly(path)
    except sqlite3.Error as exc:
        result.problems.append(f"{label}: cannot open: {exc}")
        return result
    work: sqlite3.Connection | None = None
    try:
        try:
            bad = integrity_check(conn)
            result.version = schema_version(conn)
        except sqlite3.Error as exc:
            result.problems.append(f"{label}: not a usable SQLite database: {exc}")
            return result
        result.problems += [f"{label}: integrity check: {p}" for p in bad[:20]]
        if bad:
            return result
        if result.version > result.current:
            result.problems.append(
                f"{label}: schema version {result.version} is newer than this program "
                f"knows ({result.current})"
            )
            return result
        work = conn
        if result.version < result.current:
            # Checked as the current code will see it: migrated, in memory only.
            result.notes.append(
                f"{label}: schema version {result.version}, migrated to {result.current} "
                "when postel next opens it"
            )
            work = memory_copy(conn)
            try:
                migrate(work, migrations, name=f"{label} (in-memory copy)")
            except DBError as exc:
                result.problems.append(f"{label}: {exc}")
                return result
        result.problems += compare_schema(label, reference_schema(migrations), schema_of(work))
        for r in work.execute("PRAGMA foreign_key_check"):
            result.problems.append(f"{label}: {r[0]} row {r[1]} refers to a missing row of {r[2]}")
        try:
            result.problems += db.load_check()(work, label)
        except sqlite3.Error as exc:
            result.problems.append(f"{label}: reading records: {exc}")
        if db.files is not None:
            f = db.files
            try:
                result.sizes = {
                    int(r[0]): int(r[1])
                    for r in work.execute(f"SELECT {f.id_column}, {f.size_column} FROM {f.table}")
                }
                if f.checkpoint is not None:
                    result.checkpoint = read_checkpoint(work, f.checkpoint)
            except sqlite3.Error as exc:
                result.problems.append(f"{label}: reading message records: {exc}")
        return result
    finally:
        if work is not None and work is not conn:
            work.close()
        conn.close()
