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


# A mailbox's special use (RFC 6154 §2) and, as in the SQLite store, the highest
# modseq of removed UIDs no longer listed in vanished (0: the list is complete,
# RFC 7162 §3.2.10), so that a store copied from SQLite (postel.pg.copystore)
# keeps both. IF NOT EXISTS: another step may add the special use as well.
MAILBOX_USE_AND_FLOOR = """
ALTER TABLE mailbox ADD COLUMN IF NOT EXISTS special_use text NOT NULL DEFAULT '';
ALTER TABLE mailbox ADD COLUMN IF NOT EXISTS vanished_floor bigint NOT NULL DEFAULT 0;
"""

# ACME shared by the nodes (postel.pg.acmestore): the account and the host
# keys with their chains, each column holding what its file in a SQLite
# node's data directory holds (PEM, JSON; the keys unencrypted, as the files
# are), and the challenges being answered, so that any node answers the CA
# (RFC 8555 §8.3, RFC 8737 §3). kind: "http-01" (ident: the token) or
# "tls-alpn-01" (ident: the name).
ACME = """
CREATE TABLE acme_account (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    key bytea NOT NULL,
    registration bytea
);
CREATE TABLE acme_host_key (
    kind text PRIMARY KEY,
    key bytea NOT NULL,
    chain bytea NOT NULL,
    next_key bytea,
    updated timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE acme_challenge (
    kind text NOT NULL CHECK (kind IN ('http-01', 'tls-alpn-01')),
    ident text NOT NULL,
    key_authorization text NOT NULL,
    created timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, ident)
);
"""

# The login limiter's failures and trusted clients (postel.pg.loginlimits),
# as auth.db keeps them: counted across the nodes.
LOGIN_LIMITS = """
CREATE TABLE login_failure (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client text NOT NULL,
    account text NOT NULL,
    at double precision NOT NULL
);
CREATE INDEX login_failure_client ON login_failure (client, account, at);
CREATE INDEX login_failure_account ON login_failure (account, at);
CREATE INDEX login_failure_at ON login_failure (at);
CREATE TABLE login_trusted (
    client text NOT NULL,
    account text NOT NULL,
    at double precision NOT NULL,
    PRIMARY KEY (client, account)
);
"""

# The webmail's parts (postel.pg.accountmail): thread keys with the base
# subject they were found by (postel.store.threads), the full-text index in a
# table of its own (a flag change rewrites the message row, never the text:
# postel.pg.fulltext), what deliveries saw of recipient domains, and the web
# sessions every node can check. Mail stored before is its own thread and is
# found by its subject and addresses only.
WEBMAIL = """
ALTER TABLE message ADD COLUMN thread_subject text NOT NULL DEFAULT '';
UPDATE message SET thread_id = id WHERE thread_id = 0;
CREATE INDEX message_thread ON message (thread_id, mailbox_id, uid);
CREATE INDEX message_thread_subject ON message (thread_subject) WHERE thread_subject != '';
CREATE INDEX message_in_reply_to ON message (in_reply_to) WHERE in_reply_to != '';

CREATE TABLE message_text (
    message_id bigint PRIMARY KEY REFERENCES message (id) ON DELETE CASCADE,
    fts tsvector NOT NULL
);
CREATE INDEX message_text_fts ON message_text USING gin (fts);
-- Mail stored before: its header fields, cut at every character that is not
-- a letter or digit (as postel.pg.fulltext does; "carol@example.org" is three
-- words, not one address token).
INSERT INTO message_text (message_id, fts)
    SELECT m.id,
        setweight(to_tsvector('simple', regexp_replace(m.subject, '[^[:alnum:]]+', ' ', 'g')), 'A')
        || setweight(to_tsvector('simple',
            regexp_replace(m.from_addr, '[^[:alnum:]]+', ' ', 'g')), 'B')
        || setweight(to_tsvector('simple',
            regexp_replace(m.to_addr || ' ' || m.cc, '[^[:alnum:]]+', ' ', 'g')), 'C')
        || array_to_tsvector(ARRAY['_a' || b.account_id::text])
    FROM message m JOIN mailbox b ON b.id = m.mailbox_id;

CREATE TABLE domain_security (
    account_id bigint NOT NULL REFERENCES account (id) ON DELETE CASCADE,
    domain text NOT NULL,
    starttls boolean,
    requiretls boolean,
    updated timestamptz NOT NULL,
    PRIMARY KEY (account_id, domain)
);

-- Web sessions of the admin pages and the webmail (postel.pg.websessions),
-- so that a browser sent to any node stays logged in: the SHA-256 of the
-- cookie's id (the id itself is never stored), its CSRF token, the user or,
-- for a login form, the client.
CREATE TABLE web_session (
    id_hash bytea PRIMARY KEY,
    scope text NOT NULL,
    csrf text NOT NULL,
    user_name text NOT NULL DEFAULT '',
    client text NOT NULL DEFAULT '',
    data jsonb NOT NULL DEFAULT '{}',
    created timestamptz NOT NULL DEFAULT now(),
    last_seen timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX web_session_owner ON web_session (scope, user_name, client, last_seen);
CREATE INDEX web_session_seen ON web_session (scope, last_seen);
"""

# Received reports and the MTA-STS policy cache shared by the nodes, as each
# node's tlsrpt.db, dmarcrpt.db and mtasts.db keep them (postel.pg.tlsreports,
# postel.pg.dmarcreports, postel.pg.mtastscache). Times the SQLite databases
# keep as text stay text here, in the "C" collation, so that comparisons and
# orderings are those of the SQLite files (byte order, not the locale's). A
# policy's refresh is claimed by one node at a time: refresh_until is its lease
# (RFC 8461 §5.1 proactive refresh, postel.mtastsdb.refresh). A report is
# identified by ident, the SHA-256 of its identifying fields (postel.pg.received):
# a B-tree entry has a size limit that a reporter's long report-id could pass;
# the domains are looked up by equality only, through hash indexes for the same
# reason.
RECEIVED = """
CREATE TABLE tlsrpt_report (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ident bytea NOT NULL UNIQUE CHECK (length(ident) = 32),
    received text COLLATE "C" NOT NULL,
    from_addr text NOT NULL DEFAULT '',
    to_rcpt text NOT NULL DEFAULT '',
    kind text NOT NULL CHECK (kind IN ('domain', 'host')),
    organization text COLLATE "C" NOT NULL,
    report_id text COLLATE "C" NOT NULL,
    contact_info text NOT NULL DEFAULT '',
    period_start text COLLATE "C" NOT NULL,
    period_end text COLLATE "C" NOT NULL,
    day text COLLATE "C" NOT NULL,
    policy_domains text NOT NULL DEFAULT '',
    successes bigint NOT NULL CHECK (successes >= 0),
    failures bigint NOT NULL CHECK (failures >= 0),
    data text NOT NULL,
    warnings text NOT NULL DEFAULT '[]',
    message_ref text NOT NULL DEFAULT ''
);
CREATE INDEX tlsrpt_report_day ON tlsrpt_report (day);
CREATE INDEX tlsrpt_report_received ON tlsrpt_report (received);

CREATE TABLE tlsrpt_policy (
    report bigint NOT NULL REFERENCES tlsrpt_report (id) ON DELETE CASCADE,
    idx integer NOT NULL,
    domain text COLLATE "C" NOT NULL,
    policy_type text NOT NULL,
    successes bigint NOT NULL,
    failures bigint NOT NULL,
    PRIMARY KEY (report, idx)
);
CREATE INDEX tlsrpt_policy_domain ON tlsrpt_policy USING hash (domain);

CREATE TABLE tlsrpt_duplicate (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    report bigint NOT NULL REFERENCES tlsrpt_report (id) ON DELETE CASCADE,
    received text NOT NULL,
    from_addr text NOT NULL DEFAULT '',
    to_rcpt text NOT NULL DEFAULT '',
    message_ref text NOT NULL DEFAULT ''
);
CREATE INDEX tlsrpt_duplicate_report ON tlsrpt_duplicate (report);

CREATE TABLE dmarc_report (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ident bytea NOT NULL UNIQUE CHECK (length(ident) = 32),
    received text COLLATE "C" NOT NULL,
    from_addr text NOT NULL DEFAULT '',
    to_rcpt text NOT NULL DEFAULT '',
    organization text COLLATE "C" NOT NULL,
    report_id text COLLATE "C" NOT NULL,
    domain text COLLATE "C" NOT NULL,
    format text NOT NULL DEFAULT 'rfc7489',
    period_begin bigint NOT NULL,
    period_end bigint NOT NULL,
    day text COLLATE "C" NOT NULL,
    record_count bigint NOT NULL,
    message_count bigint NOT NULL,
    dkim_pass bigint NOT NULL,
    dkim_fail bigint NOT NULL,
    spf_pass bigint NOT NULL,
    spf_fail bigint NOT NULL,
    dmarc_pass bigint NOT NULL,
    dmarc_fail bigint NOT NULL,
    data text NOT NULL,
    warnings text NOT NULL DEFAULT '[]',
    message_ref text NOT NULL DEFAULT ''
);
CREATE INDEX dmarc_report_domain ON dmarc_report USING hash (domain);
CREATE INDEX dmarc_report_day ON dmarc_report (day);

CREATE TABLE dmarc_record (
    report bigint NOT NULL REFERENCES dmarc_report (id) ON DELETE CASCADE,
    idx integer NOT NULL,
    source_ip text NOT NULL,
    count bigint NOT NULL,
    disposition text NOT NULL,
    dkim text NOT NULL,
    spf text NOT NULL,
    header_from text NOT NULL,
    PRIMARY KEY (report, idx)
);

CREATE TABLE dmarc_duplicate (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    report bigint NOT NULL REFERENCES dmarc_report (id) ON DELETE CASCADE,
    received text NOT NULL,
    from_addr text NOT NULL DEFAULT '',
    to_rcpt text NOT NULL DEFAULT '',
    message_ref text NOT NULL DEFAULT ''
);
CREATE INDEX dmarc_duplicate_report ON dmarc_duplicate (report);

CREATE TABLE mtasts_policy (
    domain text PRIMARY KEY,
    inserted timestamptz NOT NULL,
    valid_end timestamptz NOT NULL,
    last_update timestamptz NOT NULL,
    last_use timestamptz NOT NULL,
    backoff boolean NOT NULL,
    record_id text NOT NULL,
    policy jsonb NOT NULL,
    policy_text text NOT NULL,
    failure_type text NOT NULL DEFAULT '',
    failure_text text NOT NULL DEFAULT '',
    refresh_by text,
    refresh_until timestamptz
);
CREATE INDEX mtasts_policy_last_use ON mtasts_policy (last_use);
"""

# The junk filter's data of each account (postel.pg.junkstore), as junk.db
# keeps it (postel.junk.db): the classifier's counts keyed by the features'
# 64-bit hashes (postel.junk.keys), the verdicts on verified identities, the
# trained messages and the filing records, shared by the nodes. The totals
# and a generation counted up by every training sit in one row per account,
# which a training locks: one account's trainings run one after the other.
JUNK = """
CREATE TABLE junk_account (
    account_id bigint PRIMARY KEY REFERENCES account (id) ON DELETE CASCADE,
    ham_messages bigint NOT NULL DEFAULT 0 CHECK (ham_messages >= 0),
    spam_messages bigint NOT NULL DEFAULT 0 CHECK (spam_messages >= 0),
    generation bigint NOT NULL DEFAULT 0
);
CREATE TABLE junk_token (
    account_id bigint NOT NULL REFERENCES account (id) ON DELETE CASCADE,
    key bigint NOT NULL,
    ham integer NOT NULL DEFAULT 0 CHECK (ham >= 0),
    spam integer NOT NULL DEFAULT 0 CHECK (spam >= 0),
    PRIMARY KEY (account_id, key)
);
CREATE TABLE junk_identity (
    account_id bigint NOT NULL REFERENCES account (id) ON DELETE CASCADE,
    identity text NOT NULL,
    ham integer NOT NULL DEFAULT 0 CHECK (ham >= 0),
    spam integer NOT NULL DEFAULT 0 CHECK (spam >= 0),
    PRIMARY KEY (account_id, identity)
);
CREATE TABLE junk_trained (
    account_id bigint NOT NULL REFERENCES account (id) ON DELETE CASCADE,
    key text NOT NULL,
    spam boolean NOT NULL,
    identities text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (account_id, key)
);
CREATE TABLE junk_filed (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id bigint NOT NULL REFERENCES account (id) ON DELETE CASCADE,
    key text NOT NULL,
    at timestamptz NOT NULL,
    target text NOT NULL,
    score double precision,
    reasons text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX junk_filed_key ON junk_filed (account_id, key, id);
CREATE INDEX junk_filed_account ON junk_filed (account_id, id);
"""

# RFC 6154 special uses of mailboxes, as the SQLite store keeps them: the
# default mailboxes of accounts made before get theirs (DEFAULT_SPECIAL_USE of
# postel.store.names) unless another mailbox of the account has that use (a
# store copied by migrate-store keeps what it had), at most one mailbox per
# use and account. The column itself came with MAILBOX_USE_AND_FLOOR.
SPECIAL_USE = """
ALTER TABLE mailbox ADD COLUMN IF NOT EXISTS special_use text NOT NULL DEFAULT '';
UPDATE mailbox m SET special_use = d.use
    FROM (VALUES ('Sent', '\\Sent'), ('Drafts', '\\Drafts'), ('Archive', '\\Archive'),
        ('Junk', '\\Junk'), ('Trash', '\\Trash')) AS d (name, use)
    WHERE m.name = d.name AND m.special_use = '' AND NOT EXISTS (
        SELECT 1 FROM mailbox o WHERE o.account_id = m.account_id AND o.special_use = d.use);
CREATE UNIQUE INDEX mailbox_special_use ON mailbox (account_id, special_use)
    WHERE special_use <> '';
"""

# The daily digest of received reports' findings is sent by one node per day,
# recorded in report_run as the outgoing reports' runs are (postel.pg.dailyrun).
DIGEST_RUNS = """
ALTER TABLE report_run DROP CONSTRAINT report_run_kind_check;
ALTER TABLE report_run ADD CONSTRAINT report_run_kind_check
    CHECK (kind IN ('tls', 'dmarc', 'digest'));
"""

# How many removed UIDs each mailbox lists in vanished, kept by the removing
# transactions, so that they see when to trim the list back to VANISHED_KEEP
# (postel.pg.changetx) without counting it; as the SQLite store's column.
VANISHED_ROWS = """
ALTER TABLE mailbox ADD COLUMN IF NOT EXISTS vanished_rows bigint NOT NULL DEFAULT 0;
UPDATE mailbox b SET vanished_rows = (SELECT count(*) FROM vanished v WHERE v.mailbox_id = b.id);
"""

# A delivery records the body it is about to PUT into the object store, and
# when, before the PUT; the sweep of objects no body row names skips those
# recorded recently and locks the record while it deletes (postel.pg.objectsweep).
BODY_PUTS = """
CREATE TABLE IF NOT EXISTS body_put (
    sha256 bytea PRIMARY KEY,
    since timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS body_put_since ON body_put (since);
"""

# When each body row was last written by a delivery (inserted, or its upsert
# by a delivery of the same content): the sweep of body rows no message
# names leaves younger ones alone (postel.pg.bodysweep). Rows from before
# this step count from the migration.
BODY_TOUCHED = """
ALTER TABLE body ADD COLUMN IF NOT EXISTS touched timestamptz NOT NULL DEFAULT now();
"""

# A new message's thread key, the one owner of the rules on PostgreSQL
# (postel.pg.threading; as postel.store.threads): the first of *refs* (nearest
# first) that a message of the account has as its Message-ID, else a stored
# message replying to *own*, else, when *by_subject*, the newest message with
# the base subject *base* if received within *win* of *received*; NULL: a
# thread of its own. VOLATILE plpgsql, so that each look-up takes a snapshot
# of its own: called by a delivery's statement after it got the account's
# lock, it sees every message committed before (the statement's own
# snapshot may be older, taken while it waited for the lock).
THREAD_KEY = """
CREATE OR REPLACE FUNCTION postel_thread_key(
    p_account bigint, p_refs text[], p_own text, p_by_subject boolean, p_base text,
    p_received timestamptz, p_win interval
) RETURNS bigint LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
    v_key bigint;
    v_at timestamptz;
BEGIN
    SELECT m.thread_id INTO v_key
    FROM unnest(p_refs) WITH ORDINALITY AS r (ref, n)
    JOIN message m ON m.message_id = r.ref
    JOIN mailbox x ON x.id = m.mailbox_id
    WHERE x.account_id = p_account AND m.thread_id != 0
    ORDER BY r.n LIMIT 1;
    IF v_key IS NOT NULL THEN
        RETURN v_key;
    END IF;
    IF p_own != '' THEN
        SELECT m.thread_id INTO v_key FROM message m JOIN mailbox x ON x.id = m.mailbox_id
        WHERE m.in_reply_to = p_own AND x.account_id = p_account AND m.thread_id != 0
        LIMIT 1;
        IF v_key IS NOT NULL THEN
            RETURN v_key;
        END IF;
    END IF;
    IF p_by_subject AND p_base != '' THEN
        SELECT m.thread_id, m.received INTO v_key, v_at
        FROM message m JOIN mailbox x ON x.id = m.mailbox_id
        WHERE m.thread_subject = p_base AND x.account_id = p_account AND m.thread_id != 0
        ORDER BY m.id DESC LIMIT 1;
        IF v_key IS NOT NULL AND v_at BETWEEN p_received - p_win AND p_received + p_win THEN
            RETURN v_key;
        END IF;
    END IF;
    RETURN NULL;
END
$fn$;
"""


MIGRATIONS: list[str] = [
    INITIAL,
    QUEUE,
    HEADS_AND_ANSWERS,
    SUBSCRIPTIONS,
    REPORTS,
    MAILBOX_USE_AND_FLOOR,
    ACME,
    LOGIN_LIMITS,
    WEBMAIL,
    RECEIVED,
    JUNK,
    SPECIAL_USE,
    DIGEST_RUNS,
    VANISHED_ROWS,
    BODY_PUTS,
    BODY_TOUCHED,
    THREAD_KEY,
]
