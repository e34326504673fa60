"""Thread keys on PostgreSQL: the rules of postel.store.threads (references,
then a stored reply, then a reply's base subject within SUBJECT_WINDOW, else a
thread of its own), looked up among one account's messages by the database
function ``postel_thread_key`` (postel.pg.schema, THREAD_KEY), the one owner
of the rules on this backend: both ways a delivery is stored call it, the
transaction that takes the account's lock first (thread_for) and the one
statement (postel.pg.newmessage), with the arguments of thread_args."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

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


@dataclass(frozen=True, slots=True)
class ThreadArgs:
    """What the look-up needs of a new message (pure): the message ids it
    refers to, nearest first; its own message id ("" when none); whether its
    base subject may thread it (a reply or a forward); its base subject."""

    refs: list[str]
    own: str
    by_subject: bool
    base: str
    window: timedelta = SUBJECT_WINDOW


def thread_args(env: Envelope) -> ThreadArgs:
    base = base_subject(env.subject)
    refs = references_of(env.in_reply_to, env.references)
    own = message_ids(env.message_id)
    return ThreadArgs(
        refs=list(refs),
        own=own[0] if own else "",
        by_subject=bool(base) and bool(refs or is_reply(env.subject)),
        base=base,
    )


async def thread_for(
    conn: Conn, account_id: int, env: Envelope, received: datetime
) -> tuple[int | None, str]:
    """(thread key, base subject) of a new message of the account; key None:
    it starts a thread of its own (its key is then its own id)."""
    args = thread_args(env)
    cur = await conn.execute(
        "SELECT postel_thread_key(%s, %s::text[], %s, %s, %s, %s, %s::interval)",
        (account_id, args.refs, args.own, args.by_subject, args.base, received, args.window),
    )
    row = await cur.fetchone()
    key = None if row is None else row[0]
    return (None if key is None else col_int(key)), args.base
