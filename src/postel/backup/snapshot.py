"""Consistent copies of live SQLite databases.

Each copy is made with the SQLite online backup API inside one read
transaction on the source, so the copy and the record ids read alongside it
come from the same snapshot, whatever writers do meanwhile (WAL readers do
not block writers). Never a plain file copy of a live database.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from postel.databases import MessageFiles
from postel.fsutil import fsync_dir


@dataclass
class Snapshot:
    path: Path  # the copy
    # id -> size of the records owning message files, as of the snapshot.
    sizes: dict[int, int] = field(default_factory=dict)
    # The store's recovery checkpoint as of the snapshot (MessageFiles.checkpoint).
    checkpoint: int | None = None

    @property
    def max_id(self) -> int:
        return max(self.sizes, default=0)


def connect_source(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(
        path.resolve().as_uri() + "?mode=ro",
        uri=True,
        isolation_level=None,
        check_same_thread=False,
    )
    conn.execute("PRAGMA busy_timeout = 10000")
    return conn


def snapshot(source: Path, dest: Path, files: MessageFiles | None) -> Snapshot:
    """Copy database *source* to the new file *dest*."""
    dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if dest.exists():
        raise FileExistsError(f"{dest}: already exists")
    src = connect_source(source)
    try:
        out = Snapshot(dest)
        src.execute("BEGIN")
        try:
            # The first read starts the read transaction the backup then uses.
            if files is not None:
                out.sizes = {
                    int(r[0]): int(r[1])
                    for r in src.execute(
                        f"SELECT {files.id_column}, {files.size_column} FROM {files.table}"
                    )
                }
                if files.checkpoint is not None:
                    row = src.execute(
                        "SELECT value FROM meta WHERE key = ?", (files.checkpoint,)
                    ).fetchone()
                    out.checkpoint = int(row[0]) if row is not None else 0
            else:
                src.execute("SELECT count(*) FROM sqlite_master").fetchone()
            dst = sqlite3.connect(str(dest), isolation_level=None)
            try:
                src.backup(dst)
            finally:
                dst.close()
        finally:
            src.execute("COMMIT")
    finally:
        src.close()
    fd = os.open(dest, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_dir(dest.parent)
    return out


def record_exists(source: Path, files: MessageFiles, msgid: int) -> bool:
    """Whether the live database has a record for *msgid* now."""
    src = connect_source(source)
    try:
        row = src.execute(
            f"SELECT 1 FROM {files.table} WHERE {files.id_column} = ?", (msgid,)
        ).fetchone()
        return row is not None
    finally:
        src.close()
