"""A new message into an existing account and mailbox in one round trip.

The delivery's steps (the account's modseq, the body, the mailbox's UID, the
thread key, the message row, its full-text vector, the change notification)
name the account and the mailbox, not ids read before, so they are one SQL
statement: one round trip and its own
transaction, where the old path (postel.pg.messages, still used when the
account or the mailbox must be created first) waited for eight replies. When
the account or the mailbox does not exist, the statement writes nothing and
returns no row. Each round trip is a network latency between a node and the
database, paid before SMTP can answer 250.

Should a removal of the mailbox commit while the statement waits for the
account's lock, the statement may still raise the account's modseq and keep
the body, then find no mailbox row to write and return no row; the caller's
path that creates the mailbox then names the same body.

The thread key is looked up by the database function postel_thread_key
(postel.pg.threading), which the other path calls too. It is VOLATILE, so its
look-ups take a snapshot of their own after the statement got the account's
lock: a message committed by another delivery while this one waited for the
lock is seen (the statement's own snapshot, taken before the wait, would not
see it, and a reply would start a thread of its own beside its parent).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from psycopg_pool import AsyncConnectionPool

from postel.pg import fulltext, notify
from postel.pg.pool import Conn
from postel.pg.rows import MESSAGE_COLUMNS, to_message
from postel.pg.threading import thread_args
from postel.store import mimestructure
from postel.store.bodytext import READ_LIMIT, body_text
from postel.store.envelope import Envelope, header_block, parse_envelope
from postel.store.message import Message
from postel.store.names import split_flags
from postel.store.search import fts_row

log = logging.getLogger("postel.pg")

HEADER_READ = 256 * 1024  # as postel.store.envelope.HEADER_LIMIT


@dataclass(frozen=True, slots=True)
class Prepared:
    """What is computed from a message before its transaction (CPU work, done
    off the event loop): envelope, stored MIME structure and header fields
    (None: computed on first IMAP use), SHA-256, and the body's text for the
    full-text index."""

    env: Envelope
    mime: bytes | None
    head: bytes | None
    digest: bytes
    text: str


def prepare(data: bytes, account: str) -> Prepared:
    env = parse_envelope(header_block(data[:HEADER_READ]))
    try:
        mime, head = mimestructure.stored_form(data)
    except Exception as exc:
        log.warning("MIME structure not stored", extra={"account": account, "err": repr(exc)})
        mime, head = None, None
    try:
        text = body_text(data[:READ_LIMIT])
    except Exception as exc:  # still stored, found by its headers only (as on SQLite)
        log.warning("body text not indexed", extra={"account": account, "err": repr(exc)})
        text = ""
    return Prepared(env, mime, head, hashlib.sha256(data).digest(), text)


# One statement, so one round trip (its own transaction: the connection is
# in autocommit). Each step reads the one before it, which fixes their order:
# the account's row lock first, as every writer of the account takes it
# (postel.pg.changetx), then the body, then the mailbox's UID. Nothing is
# written when the account or the mailbox does not exist. The thread key:
# postel_thread_key (postel.pg.threading), called once the account's lock is
# held (t reads a), else the new message's own id (taken from the identity's
# sequence for that).
_DELIVER = f"""
WITH a AS (
    UPDATE account SET modseq = modseq + 1
    WHERE name = %(account)s AND EXISTS (
        SELECT 1 FROM mailbox WHERE account_id = account.id AND name = %(mailbox)s)
    RETURNING id, name, modseq
), b AS (
    INSERT INTO body (sha256, size, data) SELECT %(digest)s, %(size)s, %(data)s FROM a
    ON CONFLICT (sha256) DO UPDATE SET size = excluded.size, touched = now()
    RETURNING sha256
), mb AS (
    UPDATE mailbox SET uidnext = uidnext + 1, highestmodseq = a.modseq, total = total + 1,
        unseen = unseen + %(unseen)s, size = mailbox.size + %(size)s
    FROM a, b WHERE mailbox.account_id = a.id AND mailbox.name = %(mailbox)s
    RETURNING mailbox.id, mailbox.uidnext - 1 AS uid, a.modseq, b.sha256
), t AS (
    SELECT nextval(pg_get_serial_sequence('message', 'id')) AS id,
        postel_thread_key(a.id, %(refs)s::text[], %(own)s, %(by_subject)s, %(base)s,
            %(received)s::timestamptz, %(window)s::interval) AS thread
    FROM a
), m AS (
    INSERT INTO message (id, mailbox_id, uid, modseq, flags, keywords, size, received,
        requiretls, subject, from_addr, to_addr, cc, date, message_id, in_reply_to,
        has_attachments, body, mime, head, thread_id, thread_subject)
    OVERRIDING SYSTEM VALUE
    SELECT t.id, mb.id, mb.uid, mb.modseq, %(flags)s, %(keywords)s, %(size)s, %(received)s,
        %(requiretls)s, %(subject)s, %(from_addr)s, %(to_addr)s, %(cc)s, %(date)s,
        %(message_id)s, %(in_reply_to)s, %(has_attachments)s, mb.sha256, %(mime)s, %(head)s,
        COALESCE(t.thread, t.id), %(base)s
    FROM mb, t
    RETURNING {MESSAGE_COLUMNS.replace("m.", "")}
), ft AS (
    -- The full-text vector: the account's lexeme, then the message's words
    -- (postel.pg.fulltext).
    INSERT INTO message_text (message_id, fts)
    SELECT m.id, array_to_tsvector(ARRAY[%(lexeme_prefix)s || a.id::text])
        || %(words)s::tsvector
    FROM m, a
)
SELECT m.*, pg_notify(%(channel)s,
    jsonb_build_object('a', a.name, 'm', %(mailbox)s::text, 's', a.modseq)::text)
FROM m, a
"""


async def insert_message(
    pool: AsyncConnectionPool[Conn],
    account: str,
    mailbox: str,
    data: bytes,
    prepared: Prepared,
    *,
    flags: Iterable[str],
    received: datetime,
    requiretls: bool,
    inline: bool = True,
) -> Message | None:
    """Store *data* as a new message of *mailbox* (normalized) of *account*;
    None when either does not exist. With *inline* false, the body's row has
    data NULL: its content was put in the object store before."""
    notify.encode(notify.MailboxChanged(account, mailbox, 1))  # refuses an overlong payload
    system, keywords = split_flags(flags)
    env = prepared.env
    thread = thread_args(env)
    fields = fts_row(env.subject, env.from_, env.to, env.cc, prepared.text)
    params = {
        "account": account,
        "mailbox": mailbox,
        "digest": prepared.digest,
        "size": len(data),
        "data": data if inline else None,
        "unseen": 0 if "\\Seen" in system else 1,
        "flags": sorted(system),
        "keywords": sorted(keywords),
        "received": received,
        "requiretls": requiretls,
        "subject": env.subject,
        "from_addr": env.from_,
        "to_addr": env.to,
        "cc": env.cc,
        "date": env.date,
        "message_id": env.message_id,
        "in_reply_to": env.in_reply_to,
        "has_attachments": env.has_attachments,
        "mime": prepared.mime,
        "head": prepared.head,
        "refs": thread.refs,
        "own": thread.own,
        "by_subject": thread.by_subject,
        "base": thread.base,
        "window": thread.window,
        "lexeme_prefix": fulltext.ACCOUNT_LEXEME_PREFIX,
        "words": fulltext.document_words(*fields),
        "channel": notify.CHANNEL,
    }
    async with pool.connection() as conn:
        cur = await conn.execute(_DELIVER, params)
        row = await cur.fetchone()
    return None if row is None else to_message(row, mailbox)
