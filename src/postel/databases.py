"""Every database of a data directory, in one place (docs/architecture.md, Data directory).

backup and verifydata are driven by this list: a new database is added here
(path, migrations, record checker, message files) and both tools handle it.
Functions are named by dotted path ("module:attribute") and imported only
when used, so this module stays cheap to import.
"""

from __future__ import annotations

import importlib
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from postel.db import Migration

# check(conn, label) -> problems; conn is open on the database (maybe a migrated copy).
RecordCheck = Callable[[sqlite3.Connection, str], list[str]]
# forget(conn, ids): remove records whose message files vanished during a backup,
# keeping the database's own invariants (counters) right.
Forget = Callable[[sqlite3.Connection, Sequence[int]], None]


@dataclass(frozen=True)
class MessageFiles:
    """Records of *table* own immutable files at msg/<id // 1000>/<id> next to the
    database (postel.datadir.message_path), of the size in *size_column*."""

    table: str
    id_column: str
    size_column: str
    forget: str  # dotted path of a Forget
    # meta key of the recovery checkpoint (store/recovery.py), if the store
    # has one: a record above it whose file is missing or shorter than its
    # size is a delivery never acknowledged, removed at the next start.
    checkpoint: str | None = None


@dataclass(frozen=True)
class Database:
    name: str
    # Relative to the data dir; one "*" path component for per-account databases.
    pattern: str
    migrations: str  # dotted path of the MIGRATIONS list
    check: str  # dotted path of a RecordCheck
    files: MessageFiles | None = None
    # Paths (relative to the database's directory) that belong to it besides
    # the database, its WAL/SHM files and its message files: directories whose
    # content is not checked.
    owned_dirs: tuple[str, ...] = ()

    def load_migrations(self) -> list[Migration]:
        return list(resolve(self.migrations))

    def load_check(self) -> RecordCheck:
        fn: RecordCheck = resolve(self.check)
        return fn

    def load_forget(self) -> Forget | None:
        if self.files is None:
            return None
        fn: Forget = resolve(self.files.forget)
        return fn

    def locate(self, root: Path) -> list[Path]:
        """Existing database files of this kind under data dir *root*."""
        if "*" not in self.pattern:
            path = root / self.pattern
            return [path] if path.is_file() else []
        head, _, tail = self.pattern.partition("*")
        base = root / head.rstrip("/")
        if not base.is_dir():
            return []
        return sorted(
            d / tail.lstrip("/") for d in base.iterdir() if (d / tail.lstrip("/")).is_file()
        )


_VR = "postel.verifydata.records"

DATABASES: tuple[Database, ...] = (
    Database("auth", "auth.db", "postel.store.credentials:MIGRATIONS", f"{_VR}:check_auth"),
    Database(
        "account",
        "accounts/*/index.db",
        "postel.store.schema:MIGRATIONS",
        f"{_VR}:check_account",
        MessageFiles(
            "message",
            "id",
            "size",
            f"{_VR}:forget_account_messages",
            checkpoint="files_checked_through",
        ),
        owned_dirs=("orphans",),
    ),
    # The junk filter's per-account data (postel.junk.db): no message files.
    Database("junk", "accounts/*/junk.db", "postel.junk.db:MIGRATIONS", f"{_VR}:check_junk"),
    Database(
        "queue",
        "queue/index.db",
        "postel.queue.schema:MIGRATIONS",
        f"{_VR}:check_queue",
        MessageFiles("message", "id", "size", f"{_VR}:forget_queue_messages"),
    ),
    Database("mtasts", "mtasts.db", "postel.mtastsdb.schema:MIGRATIONS", f"{_VR}:check_mtasts"),
    Database("tlsrpt", "tlsrpt.db", "postel.tlsrptdb.schema:MIGRATIONS", f"{_VR}:check_tlsrpt"),
    Database("dmarcrpt", "dmarcrpt.db", "postel.dmarcdb.schema:MIGRATIONS", f"{_VR}:check_dmarc"),
    Database(
        "tlsrptresult",
        "tlsrptresult.db",
        "postel.tlsrptresultdb.db:MIGRATIONS",
        f"{_VR}:check_tlsrptresult",
    ),
    Database(
        "dmarceval", "dmarceval.db", "postel.dmarcevaldb.db:MIGRATIONS", f"{_VR}:check_dmarceval"
    ),
)

# Other paths of a data dir, relative to it; directories are not looked into.
# (Backups leave the findings marker out: a restored instance mails the last
# day's digest again, which is harmless.)
OTHER_FILES: tuple[str, ...] = ("postel.version", "findings-digest.day")
# Files of a running server, known but never copied by backup: the owner's lock
# (postel.owner) and the control socket (postel.control.server).
RUNTIME_FILES: tuple[str, ...] = ("postel.lock", "control.sock")
# metrics/: prometheus_client's files of the running processes (postel.metrics),
# wiped at each start; neither checked nor backed up.
# pg-bodies/ and queue/pg-spool/: local copies of message bodies kept in the
# PostgreSQL store (postel.pg.syncstore, postel.pg.queue), written again from
# the database when missing.
OTHER_DIRS: tuple[str, ...] = ("tmp", "moved-aside", "metrics", "pg-bodies", "queue/pg-spool")
# Keys and certificates of postel.acme (postel.acme.storage): backups copy
# them, verifydata checks that they load and that each key fits its chain.
KEY_DIRS: tuple[str, ...] = ("acme", "certs")
# Suffixes SQLite adds next to a database file, and the writer lock file of
# account indexes (postel.store.account.LOCK_FILE: no data, never copied).
SQLITE_SIDE_FILES: tuple[str, ...] = ("-wal", "-shm", "-journal", "-lock")


def resolve(dotted: str) -> Any:
    module, _, attr = dotted.partition(":")
    return getattr(importlib.import_module(module), attr)
