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

-- Keyed by name as auth.db is: a password may be set before the account's mail
-- exists, and outlives its removal until removed itself.
CREATE TABLE credential (
    account text PRIMARY KEY,
    scrypt text NOT NULL,
    scram_salt bytea NOT NULL,
    scram_iterations integer NOT NULL,
    scram_stored_key bytea NOT NULL,
    scram_server_key bytea NOT NULL,
    updated timestamptz NOT NULL DEFAULT now()
);

-- Server secrets shared by the nodes (e.g. the SCRAM decoy key).
CREATE TABLE secret (
    name text PRIMARY KEY,
    value bytea NOT NULL
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

# The outgoing queue (postel.pg.queue): one row per queued message with its
# content, one per (message, recipient). A claim is a lease: the claiming
# node's id, a token of that claim and when the lease ends (all three set or
# none). An entry whose lease has ended is free for any node.
QUEUE = """
CREATE TABLE queue_message (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created timestamptz NOT NULL,
    sender_account text NOT NULL,
    mail_from text NOT NULL,
    size bigint NOT NULL CHECK (size >= 0),
    requiretls boolean NOT NULL,
    tls_required_no boolean NOT NULL,
    is_tlsrpt boolean NOT NULL,
    is_dmarc_report boolean NOT NULL,
    smtputf8 boolean NOT NULL,
    eightbit boolean NOT NULL,
    subject text NOT NULL DEFAULT '',
    message_id text NOT NULL DEFAULT '',
    data bytea NOT NULL
);
ALTER TABLE queue_message ALTER COLUMN data SET STORAGE EXTERNAL;

CREATE TABLE queue_entry (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    msg_id bigint NOT NULL REFERENCES queue_message (id),
    rcpt text NOT NULL,
    domain text NOT NULL,
    created timestamptz NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    max_attempts integer NOT NULL,
    next_attempt timestamptz NOT NULL,
    last_attempt timestamptz,
    last_error text NOT NULL DEFAULT '',
    last_code integer NOT NULL DEFAULT 0,
    last_enhanced text NOT NULL DEFAULT '',
    remote_mta text NOT NULL DEFAULT '',
    hold boolean NOT NULL DEFAULT false,
    dsn_sent_delay boolean NOT NULL DEFAULT false,
    claimed_by text,
    claim uuid,
    lease_until timestamptz,
    UNIQUE (msg_id, rcpt),
    CHECK ((claimed_by IS NULL) = (claim IS NULL) AND (claim IS NULL) = (lease_until IS NULL))
);
CREATE INDEX queue_entry_due ON queue_entry (next_attempt) WHERE NOT hold;
CREATE INDEX queue_entry_msg ON queue_entry (msg_id);
"""

# Version 3: the top header's common fields next to the structure (IMAP's
# HEADER.FIELDS without the body), and answers derived once from a message
# (ENVELOPE, BODYSTRUCTURE), as the SQLite store keeps them.
HEADS_AND_ANSWERS = """
ALTER TABLE message ADD COLUMN head bytea;
CREATE TABLE message_answer (
    message_id bigint NOT NULL REFERENCES message (id) ON DELETE CASCADE,
    item text NOT NULL,
    value bytea NOT NULL,
    PRIMARY KEY (message_id, item)
);
"""

# Version 4: IMAP subscriptions (RFC 9051 §6.3.6), names kept whether or not
# the mailbox exists (a subscription outlives a deleted mailbox, §6.3.9).
SUBSCRIPTIONS = """
CREATE TABLE subscription (
    account_id bigint NOT NULL REFERENCES account (id) ON DELETE CASCADE,
    name text NOT NULL,
    PRIMARY KEY (account_id, name)
);
"""

# The outgoing reports' data shared by the nodes, as each node's
# tlsrptresult.db and dmarceval.db keep it (postel.pg.tlsresults,
# postel.pg.dmarcevals): TLS results of deliveries (RFC 8460 §4), DMARC
# evaluations of incoming mail (RFC 7489 §7.2) with the end of the last report
# per policy domain (ri=), one suppression list and bounce count per report
# kind ('tls', 'dmarc'), and the days whose daily run is done, per kind, so
# that a node getting the run's lock later that day does not send again
# (postel.pg.dailyrun).
REPORTS = """
CREATE TABLE tls_result (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    policy_domain text NOT NULL,
    day date NOT NULL,
    recipient_domain text NOT NULL,
    is_host boolean NOT NULL,
    send_report boolean NOT NULL,
    created timestamptz NOT NULL,
    updated timestamptz NOT NULL,
    sent_to_recipient_domain boolean NOT NULL DEFAULT false,
    recipient_domain_reporting_addresses jsonb NOT NULL DEFAULT '[]',
    sent_to_policy_domain boolean NOT NULL DEFAULT false,
    results jsonb NOT NULL,
    UNIQUE (policy_domain, day, recipient_domain)
);
CREATE INDEX tls_result_day ON tls_result (day);

CREATE TABLE dmarc_evaluation (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    policy_domain text NOT NULL,
    day date NOT NULL,
    received timestamptz NOT NULL,
    optional boolean NOT NULL DEFAULT false,
    data jsonb NOT NULL
);
CREATE INDEX dmarc_evaluation_day ON dmarc_evaluation (day, policy_domain);

CREATE TABLE dmarc_last_report (
    policy_domain text PRIMARY KEY,
    period_end timestamptz NOT NULL
);

CREATE TABLE report_suppression (
    kind text NOT NULL CHECK (kind IN ('tls', 'dmarc')),
    address text NOT NULL,
    until timestamptz NOT NULL,
    comment text NOT NULL DEFAULT '',
    manual boolean NOT NULL DEFAULT true,
    created timestamptz NOT NULL,
    PRIMARY KEY (kind, address)
);

CREATE TABLE report_bounce (
    kind text NOT NULL CHECK (kind IN ('tls', 'dmarc')),
    address text NOT NULL,
    count integer NOT NULL,
    last timestamptz NOT NULL,
    PRIMARY KEY (kind, address)
);

CREATE TABLE report_run (
    kind text NOT NULL CHECK (kind IN ('tls', 'dmarc')),
    day date NOT NULL,
    node text NOT NULL,
    finished timestamptz NOT NULL,
    PRIMARY KEY (kind, day)
);
"""

# RFC 6154 special uses of mailboxes, as the SQLite store keeps them: the
# default mailboxes of accounts made before get theirs (DEFAULT_SPECIAL_USE of
# postel.store.names), at most one mailbox per use and account.
SPECIAL_USE = """
ALTER TABLE mailbox ADD COLUMN special_use text NOT NULL DEFAULT '';
UPDATE mailbox SET special_use = CASE name
    WHEN 'Sent' THEN '\\Sent' WHEN 'Drafts' THEN '\\Drafts' WHEN 'Archive' THEN '\\Archive'
    WHEN 'Junk' THEN '\\Junk' WHEN 'Trash' THEN '\\Trash' ELSE '' END;
CREATE UNIQUE INDEX mailbox_special_use ON mailbox (account_id, special_use)
    WHERE special_use <> '';
"""

MIGRATIONS: list[str] = [
    INITIAL,
    QUEUE,
    HEADS_AND_ANSWERS,
    SUBSCRIPTIONS,
    REPORTS,
    SPECIAL_USE,
]
