"""Index databases as earlier releases left them (for the migration tests)."""

from __future__ import annotations

import sqlite3


def undo_vanished_floor(conn: sqlite3.Connection) -> None:
    """Take an index.db back from schema 9 to 8 (before removed UIDs were
    counted and trimmed per mailbox)."""
    conn.execute("ALTER TABLE mailbox DROP COLUMN vanished_floor")
    conn.execute("ALTER TABLE mailbox DROP COLUMN vanished_rows")
    conn.execute("PRAGMA user_version = 8")
    conn.commit()


def undo_heads(conn: sqlite3.Connection) -> None:
    """Take an index.db back from schema 8 to 7 (before stored header fields
    and kept answers)."""
    if conn.execute("PRAGMA user_version").fetchone()[0] >= 9:
        undo_vanished_floor(conn)
    conn.execute("DROP TRIGGER message_answer_delete")
    conn.execute("DROP TABLE message_answer")
    conn.execute("ALTER TABLE message_mime DROP COLUMN head")
    conn.execute("PRAGMA user_version = 7")
    conn.commit()


def undo_recovery_checkpoint(conn: sqlite3.Connection) -> None:
    """Take an index.db back to schema 6 (before the recovery pass's
    checkpoint)."""
    if conn.execute("PRAGMA user_version").fetchone()[0] >= 8:
        undo_heads(conn)
    conn.execute("DELETE FROM meta WHERE key = 'files_checked_through'")
    conn.execute("PRAGMA user_version = 6")
    conn.commit()


def undo_subscriptions(conn: sqlite3.Connection) -> None:
    """Take an index.db back to schema 5 (before subscriptions and stored
    special uses)."""
    if conn.execute("PRAGMA user_version").fetchone()[0] >= 7:
        undo_recovery_checkpoint(conn)
    conn.execute("DROP TABLE subscription")
    conn.execute("DROP INDEX mailbox_special_use")
    conn.execute("ALTER TABLE mailbox DROP COLUMN special_use")
    conn.execute("PRAGMA user_version = 5")
    conn.commit()


def undo_mime(conn: sqlite3.Connection) -> None:
    """Take an index.db back to schema 4 (before stored MIME structures and
    subscriptions)."""
    if conn.execute("PRAGMA user_version").fetchone()[0] >= 6:
        undo_subscriptions(conn)
    conn.execute("DROP TRIGGER message_mime_delete")
    conn.execute("DROP TABLE message_mime")
    conn.execute("PRAGMA user_version = 4")
    conn.commit()


def undo_threads(conn: sqlite3.Connection) -> None:
    """Take an index.db back to schema 3 (before thread keys and stored MIME
    structures)."""
    from postel.store.threads import THREAD_INDEXES

    if conn.execute("PRAGMA user_version").fetchone()[0] >= 5:
        undo_mime(conn)

    for index in (statement.split()[2] for statement in THREAD_INDEXES):
        conn.execute(f"DROP INDEX {index}")
    conn.execute("ALTER TABLE message DROP COLUMN thread_id")
    conn.execute("ALTER TABLE message DROP COLUMN thread_subject")
    conn.execute("PRAGMA user_version = 3")
    conn.commit()


def undo_modseq(conn: sqlite3.Connection) -> None:
    """Take an index.db back to schema 2 (before modification sequences and
    thread keys)."""
    if conn.execute("PRAGMA user_version").fetchone()[0] >= 4:
        undo_threads(conn)
    conn.execute("DROP INDEX message_mailbox_modseq")
    conn.execute("DROP TABLE vanished")
    conn.execute("ALTER TABLE message DROP COLUMN modseq")
    conn.execute("ALTER TABLE mailbox DROP COLUMN highestmodseq")
    conn.execute("DELETE FROM meta WHERE key = 'modseq'")
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
