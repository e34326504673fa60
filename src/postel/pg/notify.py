"""Change notifications between nodes: PostgreSQL LISTEN/NOTIFY.

A transaction that changes an account's mail calls pg_notify on CHANNEL once
per mailbox it touched, with a payload naming the account, the mailbox and the
transaction's modseq. PostgreSQL delivers notifications only when (and if) the
transaction commits, so a listener never hears of a change it cannot read yet.
A listener that reconnects may have missed some: it reads again from the last
modseq it knows (RFC 7162 CHANGEDSINCE), as after a Resync of the local feed.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import psycopg

from postel.pg.errors import PgError

CHANNEL = "postel_changes"
MAX_PAYLOAD = 7999  # PostgreSQL's limit is 8000 bytes per payload


class BadNotification(PgError):
    """A payload on CHANNEL that is not one postel wrote."""


@dataclass(frozen=True, slots=True)
class MailboxChanged:
    """A committed change to *mailbox* of *account*, at *modseq*."""

    account: str
    mailbox: str
    modseq: int


def encode(change: MailboxChanged) -> str:
    text = json.dumps(
        {"a": change.account, "m": change.mailbox, "s": change.modseq},
        ensure_ascii=False,
        separators=(",", ":"),
    )
    if len(text.encode()) > MAX_PAYLOAD:  # names are bounded far below this
        raise BadNotification(f"notification for {change.account!r} longer than {MAX_PAYLOAD}")
    return text


def decode(payload: str) -> MailboxChanged:
    try:
        obj = json.loads(payload)
        account, mailbox, modseq = obj["a"], obj["m"], obj["s"]
    except (ValueError, TypeError, KeyError) as exc:
        raise BadNotification(f"channel {CHANNEL}: not a change notification: {exc}") from None
    if not isinstance(account, str) or not isinstance(mailbox, str) or type(modseq) is not int:
        raise BadNotification(f"channel {CHANNEL}: wrong field types in {payload[:100]!r}")
    return MailboxChanged(account, mailbox, modseq)


async def publish(
    conn: psycopg.AsyncConnection[tuple[object, ...]], change: MailboxChanged
) -> None:
    """Queue the notification in *conn*'s open transaction (sent at commit)."""
    await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, encode(change)))


async def listen(
    conn: psycopg.AsyncConnection[tuple[object, ...]],
) -> AsyncIterator[MailboxChanged]:
    """Changes committed by any node, as they arrive on *conn* (autocommit, used
    for nothing else). Payloads that are not postel's are skipped."""
    await conn.execute(f"LISTEN {CHANNEL}")
    async for note in conn.notifies():
        try:
            yield decode(note.payload)
        except BadNotification:
            continue
