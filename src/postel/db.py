"""A small SQLite layer: one file per concern, WAL, forward migrations.

Each database is described by a list of migrations; migration ``i`` takes the
schema from version ``i`` to ``i + 1``. The version lives in
``PRAGMA user_version``. Opening a database runs every pending migration
forward, each in its own transaction. A database written by a newer program
(version above what we know) is refused rather than guessed at.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import ClassVar, Self

from postel.errors import PostelError

log = logging.getLogger("postel.db")

Migration = str | Callable[[sqlite3.Connection], None]


class DBError(PostelError):
    """Base of database errors; the message names the file."""


class SchemaTooNew(DBError):
    pass


class MigrationFailed(DBError):
    pass


def _connect(path: Path, readonly: bool) -> sqlite3.Connection:
    if readonly:
        uri = f"file:{path}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    else:
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 10000")
    return conn


def schema_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def open_db(
    path: Path, migrations: Sequence[Migration], *, readonly: bool = False
) -> sqlite3.Connection:
    """Open (creating if needed) the database at *path* and migrate it forward.

    The connection is in autocommit mode; use :func:`transaction` for writes
    that belong together. The caller closes it.
    """
    path = Path(path)
    if readonly:
        if not path.exists():
            raise DBError(f"{path}: database does not exist")
        conn = _connect(path, readonly=True)
        version = schema_version(conn)
        if version > len(migrations):
            conn.close()
            raise SchemaTooNew(
                f"{path}: schema version {version} is newer than this program knows "
                f"({len(migrations)})"
            )
        return conn
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = _connect(path, readonly=False)
    try:
        _set_wal(conn)
        conn.execute("PRAGMA synchronous = FULL")
        migrate(conn, migrations, name=str(path))
    except BaseException:
        conn.close()
        raise
    return conn


def _set_wal(conn: sqlite3.Connection, timeout: float = 10.0) -> None:
    """Switch to WAL. Processes opening a new database at once (SMTP workers)
    can get "database is locked" here without the busy handler being asked
    (SQLite refuses to wait where waiting could deadlock), so retry a while."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01 + random.random() * 0.04)


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration], *, name: str) -> None:
    version = schema_version(conn)
    if version > len(migrations):
        raise SchemaTooNew(
            f"{name}: schema version {version} is newer than this program knows ({len(migrations)})"
        )
    for target in range(version + 1, len(migrations) + 1):
        step = migrations[target - 1]
        try:
            conn.execute("BEGIN IMMEDIATE")
            # Re-read inside the write lock: another process may have migrated.
            if schema_version(conn) >= target:
                conn.execute("ROLLBACK")
                continue
            if isinstance(step, str):
                for statement in _split_sql(step):
                    conn.execute(statement)
            else:
                step(conn)
            conn.execute(f"PRAGMA user_version = {target}")
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise MigrationFailed(f"{name}: migration to version {target} failed: {exc}") from exc
        log.info("database migrated", extra={"db": name, "version": target})


def _split_sql(script: str) -> list[str]:
    """Split a migration script into statements (complete_statement aware)."""
    statements: list[str] = []
    current = ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip():
                statements.append(current.strip())
            current = ""
    if current.strip():
        raise DBError(f"incomplete SQL statement in migration: {current.strip()[:60]!r}")
    return statements


@contextmanager
def transaction(conn: sqlite3.Connection, *, immediate: bool = True) -> Iterator[None]:
    """Run a block in one transaction; commit on success, roll back on error."""
    conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def integrity_check(conn: sqlite3.Connection) -> list[str]:
    """Problems reported by SQLite's integrity check; empty when fine."""
    rows = conn.execute("PRAGMA integrity_check").fetchall()
    problems = [str(r[0]) for r in rows]
    return [] if problems == ["ok"] else problems


def check_page(limit: int, offset: int, max_page: int, error: type[Exception]) -> None:
    """Refuse a page request outside 1..*max_page* rows or before the first row."""
    if not 1 <= limit <= max_page or offset < 0:
        raise error(f"limit must be 1..{max_page} and offset >= 0")


class Handle:
    """An open database file: its connection until :meth:`close`, a context manager.

    Subclasses set ``closed_error`` to their package's base error, raised when the
    connection is used after closing (the message names the file).
    """

    closed_error: ClassVar[type[Exception]] = DBError

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn: sqlite3.Connection | None = conn
        self.path = path

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise self.closed_error(f"{self.path}: database is closed")
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
