"""A new message into an existing account and mailbox in two round trips.

The delivery's statements (the account's modseq, the body, the mailbox's
UID, the message row, the change notification) name the account and the
mailbox, not ids read before, so they go to PostgreSQL together in one
pipeline; the commit follows once the message row is known to be written.
When the account or the mailbox does not exist yet, nothing is written (the
transaction rolls back) and the caller takes the path that creates them
(postel.pg.messages). Each round trip is a network latency between a node
and the database, paid before SMTP can answer 250.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from psycopg import pq
from psycopg_pool import AsyncConnectionPool

from postel.pg import notify
from postel.pg.pool import Conn
from postel.pg.rows import MESSAGE_COLUMNS, to_message
from postel.store import mimestructure
from postel.store.envelope import Envelope, header_block, parse_envelope
from postel.store.message import Message
from postel.store.names import split_flags

log = logging.getLogger("postel.pg")

HEADER_READ = 256 * 1024  # as postel.store.envelope.HEADER_LIMIT


@dataclass(frozen=True, slots=True)
class Prepared:
    """What is computed from a message before its transaction (CPU work, done
    off the event loop): envelope, stored MIME structure and header fields
    (None: computed on first IMAP use), SHA-256."""

    env: Envelope
    mime: bytes | None
    head: bytes | None
    digest: bytes


def prepare(data: bytes, account: str) -> Prepared:
    env = parse_envelope(header_block(data[:HEADER_READ]))
    try:
        mime, head = mimestructure.stored_form(data)
    except Exception as exc:
        log.warning("MIME structure not stored", extra={"account": account, "err": repr(exc)})
        mime, head = None, None
    return Prepared(env, mime, head, hashlib.sha256(data).digest())


# The account's row lock first, as every writer of the account takes it
# (postel.pg.changetx): the statements run in this order in the transaction.
_MODSEQ = "UPDATE account SET modseq = modseq + 1 WHERE name = %s"
_BODY = (
    "INSERT INTO body (sha256, size, data) VALUES (%s, %s, %s) "
    "ON CONFLICT (sha256) DO UPDATE SET size = excluded.size"
)
_UID = (
    "UPDATE mailbox mb SET uidnext = uidnext + 1, highestmodseq = a.modseq, "
    "total = total + 1, unseen = unseen + %s, size = size + %s "
    "FROM account a WHERE a.name = %s AND mb.account_id = a.id AND mb.name = %s"
)
_MESSAGE = (
    "INSERT INTO message (mailbox_id, uid, modseq, flags, keywords, size, received, "
    "requiretls, subject, from_addr, to_addr, cc, date, message_id, in_reply_to, "
    "has_attachments, body, mime, head) "
    "SELECT mb.id, mb.uidnext - 1, a.modseq, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
    "%s, %s, %s, %s FROM account a JOIN mailbox mb ON mb.account_id = a.id "
    "WHERE a.name = %s AND mb.name = %s "
    f"RETURNING {MESSAGE_COLUMNS.replace('m.', '')}"
)
# The payload as notify.encode writes it, with the modseq taken in SQL.
_NOTIFY = (
    "SELECT pg_notify(%s, jsonb_build_object('a', name, 'm', %s::text, 's', modseq)::text) "
    "FROM account WHERE name = %s"
)


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
) -> Message | None:
    """Store *data* as a new message of *mailbox* (normalized) of *account*;
    None, with nothing written, when either does not exist."""
    notify.encode(notify.MailboxChanged(account, mailbox, 1))  # refuses an overlong payload
    system, keywords = split_flags(flags)
    env = prepared.env
    unseen = 0 if "\\Seen" in system else 1
    async with pool.connection() as conn:
        try:
            # BEGIN and COMMIT as statements of the pipeline: psycopg's
            # conn.transaction() would wait for each of them.
            async with conn.pipeline():
                await conn.execute("BEGIN")
                await conn.execute(_MODSEQ, (account,))
                await conn.execute(_BODY, (prepared.digest, len(data), data))
                await conn.execute(_UID, (unseen, len(data), account, mailbox))
                cur = await conn.execute(
                    _MESSAGE,
                    (
                        sorted(system),
                        sorted(keywords),
                        len(data),
                        received,
                        requiretls,
                        env.subject,
                        env.from_,
                        env.to,
                        env.cc,
                        env.date,
                        env.message_id,
                        env.in_reply_to,
                        env.has_attachments,
                        prepared.digest,
                        prepared.mime,
                        prepared.head,
                        account,
                        mailbox,
                    ),
                )
                await conn.execute(_NOTIFY, (notify.CHANNEL, mailbox, account))
                row = await cur.fetchone()  # the first round trip
                # Nothing written when the account or the mailbox is missing.
                await conn.execute("COMMIT" if row is not None else "ROLLBACK")
            # The pipeline's end waits for the commit: the second round trip.
        except Exception:
            if conn.pgconn.transaction_status != pq.TransactionStatus.IDLE:
                await conn.rollback()
            raise
    if row is None:
        return None
    return to_message(row, mailbox)
