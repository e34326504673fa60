"""Thread keys on PostgreSQL: the rules of postel.store.threads (references,
then a stored reply, then a reply's base subject within SUBJECT_WINDOW, else a
thread of its own), looked up among one account's messages inside the
delivery's transaction."""

from __future__ import annotations

from datetime import datetime

from postel.pg.pool import Conn
from postel.pg.rows import col_int
from postel.store.envelope import Envelope
from postel.store.threads import (
    SUBJECT_WINDOW,
    base_subject,
    is_reply,
    message_ids,
    references_of,
)

_BY_MESSAGE_ID = (
    "SELECT m.thread_id FROM message m JOIN mailbox b ON b.id = m.mailbox_id "
    "WHERE m.message_id = %s AND b.account_id = %s AND m.thread_id != 0 LIMIT 1"
)
_BY_REPLY = (
    "SELECT m.thread_id FROM message m JOIN mailbox b ON b.id = m.mailbox_id "
    "WHERE m.in_reply_to = %s AND m.in_reply_to != '' AND b.account_id = %s "
    "AND m.thread_id != 0 LIMIT 1"
)
_BY_SUBJECT = (
    "SELECT m.thread_id, m.received FROM message m JOIN mailbox b ON b.id = m.mailbox_id "
    "WHERE m.thread_subject = %s AND m.thread_subject != '' AND b.account_id = %s "
    "AND m.thread_id != 0 ORDER BY m.id DESC LIMIT 1"
)


async def thread_for(
    conn: Conn, account_id: int, env: Envelope, received: datetime
) -> tuple[int | None, str]:
    """(thread key, base subject) of a new message of the account; key None:
    it starts a thread of its own (its key is then its own id)."""
    base = base_subject(env.subject)
    refs = references_of(env.in_reply_to, env.references)
    for ref in refs:
        cur = await conn.execute(_BY_MESSAGE_ID, (ref, account_id))
        row = await cur.fetchone()
        if row is not None:
            return col_int(row[0]), base
    own = message_ids(env.message_id)
    if own:
        cur = await conn.execute(_BY_REPLY, (own[0], account_id))
        row = await cur.fetchone()
        if row is not None:
            return col_int(row[0]), base
    if base and (refs or is_reply(env.subject)):
        cur = await conn.execute(_BY_SUBJECT, (base, account_id))
        row = await cur.fetchone()
        found = row[1] if row is not None else None
        if (
            row is not None
            and isinstance(found, datetime)
            and abs(received - found) <= SUBJECT_WINDOW
        ):
            return col_int(row[0]), base
    return None, base
