"""Rows of the PostgreSQL store as the store's records (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from postel.store.message import MailboxInfo, Message
from postel.store.names import DEFAULT_MAILBOXES

MESSAGE_COLUMNS = (
    "m.id, m.uid, m.flags, m.keywords, m.size, m.received, m.requiretls, m.subject, "
    "m.from_addr, m.to_addr, m.cc, m.date, m.message_id, m.in_reply_to, m.has_attachments, "
    "m.thread_id, m.modseq"
)

MAILBOX_COLUMNS = "name, id, uidvalidity, uidnext, total, unseen, size, highestmodseq, special_use"

Row = Sequence[object]


def col_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer column, got {type(value).__name__}")
    return value


def col_bytes(value: object) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise TypeError(f"expected a bytea column, got {type(value).__name__}")
    return bytes(value)


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a text column, got {type(value).__name__}")
    return value


def col_names(value: object) -> frozenset[str]:
    if not isinstance(value, list):
        raise TypeError(f"expected a text[] column, got {type(value).__name__}")
    return frozenset(_str(v) for v in value)


def _when(value: object) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise TypeError(f"expected a timestamptz column, got {type(value).__name__}")
    return value.astimezone(UTC)


def to_message(row: Row, mailbox: str) -> Message:
    """A row of MESSAGE_COLUMNS as a Message of *mailbox*."""
    received = _when(row[5])
    assert received is not None
    msgid = col_int(row[0])
    return Message(
        msgid=msgid,
        mailbox=mailbox,
        uid=col_int(row[1]),
        flags=col_names(row[2]),
        keywords=col_names(row[3]),
        size=col_int(row[4]),
        received=received,
        requiretls=bool(row[6]),
        subject=_str(row[7]),
        from_=_str(row[8]),
        to=_str(row[9]),
        cc=_str(row[10]),
        date=_when(row[11]),
        message_id=_str(row[12]),
        in_reply_to=_str(row[13]),
        has_attachments=bool(row[14]),
        # Threading is still to come here: each message starts its own thread.
        thread=col_int(row[15]) or msgid,
        modseq=col_int(row[16]),
    )


def to_mailbox(row: Row) -> MailboxInfo:
    """A row of MAILBOX_COLUMNS."""
    return MailboxInfo(
        name=_str(row[0]),
        id=col_int(row[1]),
        uidvalidity=col_int(row[2]),
        uidnext=col_int(row[3]),
        total=col_int(row[4]),
        unseen=col_int(row[5]),
        size=col_int(row[6]),
        highestmodseq=col_int(row[7]),
        special_use=_str(row[8]),
    )


def mailbox_order(infos: list[MailboxInfo]) -> list[MailboxInfo]:
    """The default mailboxes first, then the others by name (as the SQLite store)."""
    rank = {name: i for i, name in enumerate(DEFAULT_MAILBOXES)}
    return sorted(infos, key=lambda m: (rank.get(m.name, len(rank)), m.name))
