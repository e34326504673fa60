"""SQLite layer: WAL, forward migrations, refusing newer schemas."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from postel.db import MigrationFailed, SchemaTooNew, integrity_check, open_db, transaction
from postel.fsutil import write_atomic, write_new

V1 = ["CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL);"]


def add_column(conn: sqlite3.Connection) -> None:
    conn.execute("ALTER TABLE t ADD COLUMN size INTEGER NOT NULL DEFAULT 0")
    conn.execute("UPDATE t SET size = length(name)")


def test_create_and_wal(tmp_path: Path) -> None:
    conn = open_db(tmp_path / "x.db", V1)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    assert integrity_check(conn) == []
    conn.close()


def test_forward_migration_keeps_data(tmp_path: Path) -> None:
    conn = open_db(tmp_path / "x.db", V1)
    conn.execute("INSERT INTO t (name) VALUES ('hello')")
    conn.close()
    conn = open_db(tmp_path / "x.db", [*V1, add_column])
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    assert tuple(conn.execute("SELECT name, size FROM t").fetchone()) == ("hello", 5)
    conn.close()


def test_newer_schema_refused(tmp_path: Path) -> None:
    open_db(tmp_path / "x.db", [*V1, add_column]).close()
    with pytest.raises(SchemaTooNew, match=r"x\.db: schema version 2 is newer"):
        open_db(tmp_path / "x.db", V1)


def test_failed_migration_rolls_back(tmp_path: Path) -> None:
    open_db(tmp_path / "x.db", V1).close()
    with pytest.raises(MigrationFailed, match="migration to version 2"):
        open_db(tmp_path / "x.db", [*V1, "ALTER TABLE nosuch ADD COLUMN x;"])
    conn = open_db(tmp_path / "x.db", V1)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    conn.close()


def test_transaction_rollback(tmp_path: Path) -> None:
    conn = open_db(tmp_path / "x.db", V1)
    with pytest.raises(RuntimeError), transaction(conn):
        conn.execute("INSERT INTO t (name) VALUES ('a')")
        raise RuntimeError("boom")
    assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 0
    conn.close()


def test_readonly_open(tmp_path: Path) -> None:
    open_db(tmp_path / "x.db", V1).close()
    conn = open_db(tmp_path / "x.db", V1, readonly=True)
    with pytest.raises(sqlite3.OperationalError):
        conn.execute("INSERT INTO t (name) VALUES ('a')")
    conn.close()


def test_write_atomic_and_new(tmp_path: Path) -> None:
    target = tmp_path / "a" / "file"
    write_atomic(target, b"one")
    write_atomic(target, b"two")
    assert target.read_bytes() == b"two"
    assert [p.name for p in target.parent.iterdir()] == ["file"]
    with pytest.raises(FileExistsError):
        write_new(target, b"three")
    assert target.read_bytes() == b"two"
