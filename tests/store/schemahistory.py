"""Index databases as earlier releases left them (for the migration tests)."""

from __future__ import annotations

import sqlite3


def undo_modseq(conn: sqlite3.Connection) -> None:
    """Take an index.db back from schema 3 to 2 (before modification sequences)."""
    conn.execute("DROP INDEX message_mailbox_modseq")
    conn.execute("DROP TABLE vanished")
    conn.execute("ALTER TABLE message DROP COLUMN modseq")
    conn.execute("ALTER TABLE mailbox DROP COLUMN highestmodseq")
    conn.execute("DELETE FROM meta WHERE key = 'modseq'")
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
