"""Schema of queue/index.db (forward migrations, see postel.db).

``message``: one row per queued message file (queue/msg/<bucket>/<id>), with
what every delivery of it needs. ``entry``: one row per (message, recipient);
the delivery loop groups due entries of one message by recipient domain into
one SMTP transaction. ``msgseq`` hands out message file ids before the file
is written (the row is only committed after the file is durable).
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
    """
    CREATE TABLE msgseq (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        next INTEGER NOT NULL
    );
    INSERT INTO msgseq (id, next) VALUES (1, 1);
    CREATE TABLE message (
        id INTEGER PRIMARY KEY,
        created TEXT NOT NULL,
        sender_account TEXT NOT NULL,
        mail_from TEXT NOT NULL,
        size INTEGER NOT NULL,
        requiretls INTEGER NOT NULL,
        tls_required_no INTEGER NOT NULL,
        is_tlsrpt INTEGER NOT NULL,
        is_dmarc_report INTEGER NOT NULL,
        smtputf8 INTEGER NOT NULL,
        eightbit INTEGER NOT NULL,
        subject TEXT NOT NULL DEFAULT '',
        message_id TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE entry (
        id INTEGER PRIMARY KEY,
        msg_id INTEGER NOT NULL REFERENCES message(id),
        rcpt TEXT NOT NULL,
        domain TEXT NOT NULL,
        created TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        max_attempts INTEGER NOT NULL,
        next_attempt TEXT NOT NULL,
        last_attempt TEXT,
        last_error TEXT NOT NULL DEFAULT '',
        last_code INTEGER NOT NULL DEFAULT 0,
        last_enhanced TEXT NOT NULL DEFAULT '',
        remote_mta TEXT NOT NULL DEFAULT '',
        hold INTEGER NOT NULL DEFAULT 0,
        dsn_sent_delay INTEGER NOT NULL DEFAULT 0,
        UNIQUE (msg_id, rcpt)
    );
    CREATE INDEX entry_due ON entry (hold, next_attempt);
    CREATE INDEX entry_msg ON entry (msg_id);
    """,
    # A claim reads one domain's due entries through this index, not all due
    # entries: its cost does not grow with the queue.
    """
    CREATE INDEX entry_domain_due ON entry (domain, hold, next_attempt);
    """,
]
