"""Schema of accounts/<name>/index.db (postel.db migrations, forward only)."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from postel.db import Migration

log = logging.getLogger("postel.store")

FTS_SCHEMA = (
    """CREATE VIRTUAL TABLE message_fts USING fts5(
        subject, sender, recipients, body,
        tokenize = 'unicode61 remove_diacritics 2'
    )""",
    # Whatever deletes a message (expunge, remove, mailbox deletion) drops its text.
    """CREATE TRIGGER message_fts_delete AFTER DELETE ON message BEGIN
        DELETE FROM message_fts WHERE rowid = old.id;
    END""",
)
FILL_BATCH = 500


def add_fulltext_index(conn: sqlite3.Connection) -> None:
    """Migration 2: the full-text index (store/search.py), filled from the
    messages already stored: their index rows and the text of their files."""
    from postel.datadir import message_path
    from postel.store.bodytext import READ_LIMIT, body_text
    from postel.store.search import fts_row

    for statement in FTS_SCHEMA:
        conn.execute(statement)
    main = next(row[2] for row in conn.execute("PRAGMA database_list") if row[1] == "main")
    account_dir = Path(main).parent
    rows = conn.execute("SELECT id, subject, from_addr, to_addr, cc FROM message ORDER BY id")
    count = unreadable = 0
    while batch := rows.fetchmany(FILL_BATCH):
        values = []
        for msgid, subject, from_, to, cc in batch:
            try:
                with open(message_path(account_dir, msgid), "rb") as fp:
                    body = body_text(fp.read(READ_LIMIT))
            except (OSError, ValueError, LookupError):
                body, unreadable = "", unreadable + 1  # recovery removes rows of lost files
            values.append((msgid, *fts_row(subject, from_, to, cc, body)))
        conn.executemany(
            "INSERT INTO message_fts (rowid, subject, sender, recipients, body) "
            "VALUES (?, ?, ?, ?, ?)",
            values,
        )
        count += len(values)
    log.info(
        "full-text index built",
        extra={"dir": str(account_dir), "messages": count, "unreadable": unreadable},
    )


MIGRATIONS: list[Migration] = [
    """
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    );
    INSERT INTO meta (key, value) VALUES ('next_uidvalidity', 1);
    CREATE TABLE mailbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE,
        uidvalidity INTEGER NOT NULL,
        uidnext INTEGER NOT NULL DEFAULT 1 CHECK (uidnext >= 1),
        total INTEGER NOT NULL DEFAULT 0,
        unseen INTEGER NOT NULL DEFAULT 0,
        size INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE message (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        mailbox_id INTEGER NOT NULL REFERENCES mailbox(id),
        uid INTEGER NOT NULL CHECK (uid >= 1),
        flags TEXT NOT NULL DEFAULT '',
        keywords TEXT NOT NULL DEFAULT '',
        size INTEGER NOT NULL CHECK (size >= 0),
        received TEXT NOT NULL,
        requiretls INTEGER NOT NULL DEFAULT 0,
        subject TEXT NOT NULL DEFAULT '',
        from_addr TEXT NOT NULL DEFAULT '',
        to_addr TEXT NOT NULL DEFAULT '',
        cc TEXT NOT NULL DEFAULT '',
        date TEXT,
        message_id TEXT NOT NULL DEFAULT '',
        in_reply_to TEXT NOT NULL DEFAULT '',
        has_attachments INTEGER NOT NULL DEFAULT 0
    );
    -- Unique per mailbox, and the index used for paging through a mailbox.
    CREATE UNIQUE INDEX message_mailbox_uid ON message (mailbox_id, uid);
    CREATE INDEX message_message_id ON message (message_id);
    CREATE TABLE domain_security (
        domain TEXT PRIMARY KEY,
        starttls INTEGER,
        requiretls INTEGER,
        updated TEXT NOT NULL
    );
    """,
    add_fulltext_index,
]

MESSAGE_COLUMNS = (
    "m.id, m.uid, m.flags, m.keywords, m.size, m.received, m.requiretls, m.subject, "
    "m.from_addr, m.to_addr, m.cc, m.date, m.message_id, m.in_reply_to, m.has_attachments"
)


def list_sql(*, newest_first: bool, cursor: bool) -> str:
    """Page through one mailbox in uid order, served by message_mailbox_uid."""
    order = "DESC" if newest_first else "ASC"
    where = "m.mailbox_id = ?"
    if cursor:
        where += " AND m.uid < ?" if newest_first else " AND m.uid > ?"
    return (
        f"SELECT {MESSAGE_COLUMNS} FROM message m WHERE {where} "
        f"ORDER BY m.uid {order} LIMIT ? OFFSET ?"
    )
