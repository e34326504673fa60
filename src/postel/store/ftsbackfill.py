"""Indexing the messages stored before the full-text index existed.

Migration 2 (schema.py) only creates the index and records in meta
``fts_backfill_below`` the first message id it did not see: every message
below it still needs its row in message_fts; later ones got theirs at
delivery. The backlog is then indexed in small chunks, newest first, by
whichever process has the account open (AccountStore starts a thread): the
files are read without any lock, and a chunk is written in one short
transaction only if no other process wrote it meanwhile, so deliveries and
other processes never wait for more than one chunk's inserts.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from postel.datadir import message_path
from postel.store.bodytext import READ_LIMIT, body_text
from postel.store.search import FTS_TABLE, fts_row

META_KEY = "fts_backfill_below"
CHUNK = 200  # messages per transaction

Row = tuple[int, str, str, str, str]  # msgid, then the indexed columns


def backlog_below(conn: sqlite3.Connection) -> int:
    """Message ids below this still need indexing (0: none)."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (META_KEY,)).fetchone()
    return int(row[0]) if row is not None else 0


def next_chunk(conn: sqlite3.Connection, below: int, limit: int = CHUNK) -> list[sqlite3.Row]:
    """The newest *limit* messages with an id below *below* (index rows only)."""
    return conn.execute(
        "SELECT id, subject, from_addr, to_addr, cc FROM message WHERE id < ? "
        "ORDER BY id DESC LIMIT ?",
        (below, limit),
    ).fetchall()


def read_chunk(account_dir: Path, rows: list[sqlite3.Row]) -> list[Row]:
    """The index rows of *rows*, with the text of their files (no lock needed: files
    never change; a missing or unreadable one is indexed by its headers only)."""
    out: list[Row] = []
    for msgid, subject, from_, to, cc in rows:
        try:
            with open(message_path(account_dir, msgid), "rb") as fp:
                body = body_text(fp.read(READ_LIMIT))
        except (OSError, ValueError, LookupError):
            body = ""
        out.append((int(msgid), *fts_row(subject, from_, to, cc, body)))
    return out


def write_chunk(conn: sqlite3.Connection, below: int, new_below: int, values: list[Row]) -> bool:
    """Inside a write transaction: store *values* and move the mark from *below* to
    *new_below*, unless another process moved it first (then nothing; False)."""
    if backlog_below(conn) != below:
        return False
    conn.executemany(
        f"INSERT INTO {FTS_TABLE} (rowid, subject, sender, recipients, body) "
        "SELECT ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM message WHERE id = ?)",
        [(*v, v[0]) for v in values],
    )
    if new_below:
        conn.execute("UPDATE meta SET value = ? WHERE key = ?", (new_below, META_KEY))
    else:
        conn.execute("DELETE FROM meta WHERE key = ?", (META_KEY,))
    return True
