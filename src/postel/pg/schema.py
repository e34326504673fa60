"""The PostgreSQL store's schema: migration ``i`` takes version ``i`` to ``i + 1``
(postel.pg.migrate runs them forward, each in its own transaction).

Accounts and their credentials (as auth.db keeps them: scrypt and SCRAM-SHA-256
keys, never a password), mailboxes with UIDVALIDITY, UIDNEXT and HIGHESTMODSEQ
(RFC 9051 §2.3.1.1, RFC 7162 §3.1.1), messages with flags, keywords and modseq,
the UIDs removed from each mailbox for QRESYNC (RFC 7162 §3.2.10), and message
bodies addressed by their SHA-256 (bytea here; ``data`` NULL is reserved for
bodies kept in an object store).

Every change to an account's mail takes the next value of account.modseq in
its transaction; that UPDATE holds the account's row lock until commit, so
modseqs are handed out in commit order (a client that has seen modseq N never
misses a change with a lower one committed later). UIDs come from
``UPDATE mailbox SET uidnext = uidnext + n ... RETURNING`` in the same
transaction: two nodes can never hand out the same UID.
"""

from __future__ import annotations

INITIAL = """
CREATE TABLE account (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL UNIQUE,
    modseq bigint NOT NULL DEFAULT 1 CHECK (modseq >= 1),
    next_uidvalidity bigint NOT NULL DEFAULT 1,
    created timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE credential (
    account_id bigint PRIMARY KEY REFERENCES account (id) ON DELETE CASCADE,
    scrypt text NOT NULL,
    scram_salt bytea NOT NULL,
    scram_iterations integer NOT NULL,
    scram_stored_key bytea NOT NULL,
    scram_server_key bytea NOT NULL,
    updated timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE mailbox (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id bigint NOT NULL REFERENCES account (id) ON DELETE CASCADE,
    name text NOT NULL,
    uidvalidity bigint NOT NULL,
    uidnext bigint NOT NULL DEFAULT 1 CHECK (uidnext >= 1),
    highestmodseq bigint NOT NULL DEFAULT 1,
    total bigint NOT NULL DEFAULT 0,
    unseen bigint NOT NULL DEFAULT 0,
    size bigint NOT NULL DEFAULT 0,
    UNIQUE (account_id, name)
);

CREATE TABLE body (
    sha256 bytea PRIMARY KEY CHECK (length(sha256) = 32),
    size bigint NOT NULL CHECK (size >= 0),
    data bytea
);
-- Bodies are compressed by TOAST only when it pays; mail is mostly text.
ALTER TABLE body ALTER COLUMN data SET STORAGE EXTERNAL;

CREATE TABLE message (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    mailbox_id bigint NOT NULL REFERENCES mailbox (id) ON DELETE CASCADE,
    uid bigint NOT NULL CHECK (uid >= 1),
    modseq bigint NOT NULL,
    flags text[] NOT NULL DEFAULT '{}',
    keywords text[] NOT NULL DEFAULT '{}',
    size bigint NOT NULL CHECK (size >= 0),
    received timestamptz NOT NULL,
    requiretls boolean NOT NULL DEFAULT false,
    subject text NOT NULL DEFAULT '',
    from_addr text NOT NULL DEFAULT '',
    to_addr text NOT NULL DEFAULT '',
    cc text NOT NULL DEFAULT '',
    date timestamptz,
    message_id text NOT NULL DEFAULT '',
    in_reply_to text NOT NULL DEFAULT '',
    has_attachments boolean NOT NULL DEFAULT false,
    thread_id bigint NOT NULL DEFAULT 0,
    body bytea NOT NULL REFERENCES body (sha256),
    mime bytea,
    UNIQUE (mailbox_id, uid)
);
CREATE INDEX message_mailbox_modseq ON message (mailbox_id, modseq);
CREATE INDEX message_body ON message (body);
CREATE INDEX message_message_id ON message (message_id);

CREATE TABLE vanished (
    mailbox_id bigint NOT NULL REFERENCES mailbox (id) ON DELETE CASCADE,
    uid bigint NOT NULL,
    modseq bigint NOT NULL,
    PRIMARY KEY (mailbox_id, uid)
);
CREATE INDEX vanished_mailbox_modseq ON vanished (mailbox_id, modseq);
"""

MIGRATIONS: list[str] = [INITIAL]
