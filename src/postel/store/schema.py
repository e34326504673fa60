"""Schema of accounts/<name>/index.db (postel.db migrations, forward only)."""

from __future__ import annotations

from postel.db import Migration
from postel.store import threads
from postel.store.names import DEFAULT_SPECIAL_USE

# Migration 2: the full-text index (store/search.py). Whatever deletes a message
# (expunge, remove, mailbox deletion) drops its text through the trigger. The
# messages already stored are indexed afterwards, in the background
# (store/ftsbackfill.py), from the first id not yet indexed down.
FULLTEXT_INDEX = """
    CREATE VIRTUAL TABLE message_fts USING fts5(
        subject, sender, recipients, body,
        tokenize = 'unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER message_fts_delete AFTER DELETE ON message BEGIN
        DELETE FROM message_fts WHERE rowid = old.id;
    END;
    INSERT INTO meta (key, value)
        SELECT 'fts_backfill_below', id + 1 FROM message ORDER BY id DESC LIMIT 1;
"""

# Migration 3: modification sequences (RFC 7162 CONDSTORE/QRESYNC, store/changes.py).
# One counter per account (meta 'modseq'); every change takes the next value in
# its transaction and stamps the messages it touches, the HIGHESTMODSEQ of their
# mailbox and, for removed messages, a row in vanished (for VANISHED (EARLIER),
# RFC 7162 §3.2.10). Messages and mailboxes that exist already get modseq 1.
MODSEQ = """
    ALTER TABLE mailbox ADD COLUMN highestmodseq INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE message ADD COLUMN modseq INTEGER NOT NULL DEFAULT 1;
    CREATE INDEX message_mailbox_modseq ON message (mailbox_id, modseq);
    CREATE TABLE vanished (
        mailbox_id INTEGER NOT NULL,
        uid INTEGER NOT NULL,
        modseq INTEGER NOT NULL,
        PRIMARY KEY (mailbox_id, uid)
    ) WITHOUT ROWID;
    CREATE INDEX vanished_mailbox_modseq ON vanished (mailbox_id, modseq);
    INSERT INTO meta (key, value) VALUES ('modseq', 1);
"""

# Migration 5: each message's MIME structure (store/mimestructure.py), stored at
# delivery in a table of its own (message rows stay small: a flag change does
# not rewrite it); mail stored before gets it on first IMAP use.
MIME_STRUCTURES = """
    CREATE TABLE message_mime (
        id INTEGER PRIMARY KEY,
        mime BLOB NOT NULL
    );
    CREATE TRIGGER message_mime_delete AFTER DELETE ON message BEGIN
        DELETE FROM message_mime WHERE id = old.id;
    END;
"""

# Migration 6: subscriptions (RFC 9051 §6.3.9) and special uses (RFC 6154).
# A subscription is a name, which may outlive its mailbox or precede it; the
# mailboxes that exist already start subscribed, and the default ones get
# their special use, which then stays with the mailbox through a rename.
SUBSCRIPTIONS = """
    CREATE TABLE subscription (name TEXT PRIMARY KEY) WITHOUT ROWID;
    INSERT INTO subscription (name) SELECT name FROM mailbox;
    ALTER TABLE mailbox ADD COLUMN special_use TEXT NOT NULL DEFAULT '';
    CREATE UNIQUE INDEX mailbox_special_use ON mailbox (special_use) WHERE special_use != '';
""" + "".join(
    f"    UPDATE mailbox SET special_use = '{use}' WHERE name = '{name}';\n"
    for name, use in DEFAULT_SPECIAL_USE.items()
)

# Migration 7: the recovery pass's checkpoint (store/recovery.py). Mail stored
# before was made durable file first, row second: all of it is checked.
RECOVERY_CHECKPOINT = """
    INSERT OR IGNORE INTO meta (key, value)
        SELECT 'files_checked_through', COALESCE(MAX(id), 0) FROM message;
"""

# Migration 8: next to each structure the lines of the top header's common
# fields (mimestructure.HEAD_FIELDS) as sent, for HEADER.FIELDS without the
# file (NULL for mail stored before: filled on first IMAP use), and answers
# derived from a message by a reader such as IMAP (ENVELOPE, BODYSTRUCTURE),
# computed once and kept: message files never change.
HEADS_AND_ANSWERS = """
    ALTER TABLE message_mime ADD COLUMN head BLOB;
    CREATE TABLE message_answer (
        id INTEGER NOT NULL,
        item TEXT NOT NULL,
        value BLOB NOT NULL,
        PRIMARY KEY (id, item)
    ) WITHOUT ROWID;
    CREATE TRIGGER message_answer_delete AFTER DELETE ON message BEGIN
        DELETE FROM message_answer WHERE id = old.id;
    END;
"""

# Migration 9: removed UIDs are kept up to a number per mailbox (store/changes.py
# VANISHED_KEEP); each mailbox counts its rows in vanished and records the
# highest modseq trimmed (0: nothing trimmed, the list is complete).
VANISHED_FLOOR = """
    ALTER TABLE mailbox ADD COLUMN vanished_rows INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE mailbox ADD COLUMN vanished_floor INTEGER NOT NULL DEFAULT 0;
    UPDATE mailbox SET vanished_rows =
        (SELECT count(*) FROM vanished WHERE mailbox_id = mailbox.id);
"""

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
    FULLTEXT_INDEX,
    MODSEQ,
    # Migration 4: thread keys (store/threads.py), stored mail threaded at once.
    threads.migrate,
    MIME_STRUCTURES,
    SUBSCRIPTIONS,
    RECOVERY_CHECKPOINT,
    HEADS_AND_ANSWERS,
    VANISHED_FLOOR,
]

MESSAGE_COLUMNS = (
    "m.id, m.uid, m.flags, m.keywords, m.size, m.received, m.requiretls, m.subject, "
    "m.from_addr, m.to_addr, m.cc, m.date, m.message_id, m.in_reply_to, m.has_attachments, "
    "m.thread_id, m.modseq"
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


def thread_heads_sql(*, newest_first: bool, cursor: bool) -> str:
    """Page through the threads of one mailbox: each thread's newest message in
    it (no message of the same thread with a higher uid there), in uid order.
    Served by message_mailbox_uid, one message_thread probe per row looked at."""
    order = "DESC" if newest_first else "ASC"
    where = "m.mailbox_id = ?"
    if cursor:
        where += " AND m.uid < ?" if newest_first else " AND m.uid > ?"
    return (
        f"SELECT {MESSAGE_COLUMNS} FROM message m WHERE {where} AND NOT EXISTS ("
        "SELECT 1 FROM message x WHERE x.thread_id = m.thread_id "
        "AND x.mailbox_id = m.mailbox_id AND x.uid > m.uid) "
        f"ORDER BY m.uid {order} LIMIT ?"
    )


# The newest message of one thread in one mailbox: one message_thread probe.
THREAD_HEAD_SQL = (
    f"SELECT {MESSAGE_COLUMNS} FROM message m WHERE m.thread_id = ? AND m.mailbox_id = ? "
    "ORDER BY m.uid DESC LIMIT 1"
)


def thread_counts_sql(n: int, *, unseen: bool) -> str:
    """(thread_id, messages) in one mailbox for *n* thread keys, or only their
    unread ones; index only (message_thread, message_thread_unseen)."""
    marks = ", ".join("?" * n)
    where = f" AND {threads.UNSEEN}" if unseen else ""
    return (
        "SELECT thread_id, count(*) FROM message "
        f"WHERE thread_id IN ({marks}) AND mailbox_id = ?{where} GROUP BY thread_id"
    )
