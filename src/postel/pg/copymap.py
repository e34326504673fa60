"""What `postel migrate-store` copies between a SQLite data directory and the
PostgreSQL store, as records both sides read and write (pure: no I/O here).

A message keeps its UID, modseq, flags, keywords and internal date; a mailbox
its UIDVALIDITY, UIDNEXT and HIGHESTMODSEQ (RFC 9051 §2.3.1.1, RFC 7162
§3.1.1), so that IMAP clients keep their caches across the move. Derived data
(the full-text index, threads, IMAP answers) is made again by the target.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from postel.store.names import DEFAULT_SPECIAL_USE, parse_flags, split_flags

# Databases of a data directory that `migrate-store` copies (postel.databases
# names); every other one found is listed as not copied.
COPIED_DATABASES = frozenset({"auth", "account", "queue"})

# Why each database `migrate-store` does not copy stays behind (the PostgreSQL
# store keeps these too, in its own tables; they are not copied across yet).
NOT_KEPT: Mapping[str, str] = {
    "junk": "the junk filter's counts (each account starts neutral and learns again)",
    "mtasts": "the MTA-STS policy cache (refetched as needed)",
    "tlsrpt": "received TLS reports",
    "dmarcrpt": "received DMARC reports",
    "tlsrptresult": "outgoing TLS results (for the next daily TLS report)",
    "dmarceval": "DMARC evaluations (for the next daily DMARC report)",
}


@dataclass(frozen=True)
class MailboxRecord:
    name: str
    uidvalidity: int
    uidnext: int
    highestmodseq: int
    total: int
    unseen: int
    size: int
    special_use: str = ""
    # The highest modseq of removed UIDs no longer listed (0: all listed).
    vanished_floor: int = 0


@dataclass(frozen=True)
class MessageRecord:
    """A message's index row; the body travels separately (streamed)."""

    uid: int
    modseq: int
    flags: frozenset[str]
    keywords: frozenset[str]
    size: int
    received: datetime
    requiretls: bool
    subject: str
    from_: str
    to: str
    cc: str
    date: datetime | None
    message_id: str
    in_reply_to: str
    has_attachments: bool
    mime: bytes | None = None
    head: bytes | None = None


@dataclass(frozen=True)
class QueueMessageRecord:
    created: datetime
    sender_account: str
    mail_from: str
    size: int
    requiretls: bool
    tls_required_no: bool
    is_tlsrpt: bool
    is_dmarc_report: bool
    smtputf8: bool
    eightbit: bool
    subject: str
    message_id: str


@dataclass(frozen=True)
class QueueEntryRecord:
    rcpt: str
    domain: str
    created: datetime
    attempts: int
    max_attempts: int
    next_attempt: datetime
    last_attempt: datetime | None
    last_error: str
    last_code: int
    last_enhanced: str
    remote_mta: str
    hold: bool
    dsn_sent_delay: bool


def parse_time(text: str) -> datetime:
    """A time as the SQLite databases write it (ISO 8601, UTC offset)."""
    when = datetime.fromisoformat(text)
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def sqlite_time(when: datetime) -> str:
    """A time as the SQLite databases write it: fixed-width UTC, microseconds."""
    return when.astimezone(UTC).isoformat(timespec="microseconds")


def _opt_time(value: object) -> datetime | None:
    return parse_time(str(value)) if value else None


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return value


def _bytes(value: object) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, bytes | bytearray | memoryview):
        raise TypeError(f"expected bytes, got {type(value).__name__}")
    return bytes(value)


def mailbox_from_sqlite(row: Mapping[str, object]) -> MailboxRecord:
    """A row of an account's index.db ``mailbox`` table."""
    return MailboxRecord(
        name=str(row["name"]),
        uidvalidity=_int(row["uidvalidity"]),
        uidnext=_int(row["uidnext"]),
        highestmodseq=_int(row["highestmodseq"]),
        total=_int(row["total"]),
        unseen=_int(row["unseen"]),
        size=_int(row["size"]),
        special_use=str(row["special_use"]),
        vanished_floor=_int(row["vanished_floor"]),
    )


def message_from_sqlite(row: Mapping[str, object]) -> MessageRecord:
    """A row of ``message`` joined with ``message_mime`` (mime, head) of index.db.
    System flags and keywords are split as the store splits them."""
    flags, _ = split_flags(parse_flags(str(row["flags"])))
    return MessageRecord(
        uid=_int(row["uid"]),
        modseq=_int(row["modseq"]),
        flags=flags,
        keywords=parse_flags(str(row["keywords"])),
        size=_int(row["size"]),
        received=parse_time(str(row["received"])),
        requiretls=bool(row["requiretls"]),
        subject=str(row["subject"]),
        from_=str(row["from_addr"]),
        to=str(row["to_addr"]),
        cc=str(row["cc"]),
        date=_opt_time(row["date"]),
        message_id=str(row["message_id"]),
        in_reply_to=str(row["in_reply_to"]),
        has_attachments=bool(row["has_attachments"]),
        mime=_bytes(row["mime"]),
        head=_bytes(row["head"]),
    )


def queue_message_from_sqlite(row: Mapping[str, object]) -> QueueMessageRecord:
    return QueueMessageRecord(
        created=parse_time(str(row["created"])),
        sender_account=str(row["sender_account"]),
        mail_from=str(row["mail_from"]),
        size=_int(row["size"]),
        requiretls=bool(row["requiretls"]),
        tls_required_no=bool(row["tls_required_no"]),
        is_tlsrpt=bool(row["is_tlsrpt"]),
        is_dmarc_report=bool(row["is_dmarc_report"]),
        smtputf8=bool(row["smtputf8"]),
        eightbit=bool(row["eightbit"]),
        subject=str(row["subject"]),
        message_id=str(row["message_id"]),
    )


def queue_entry_from_sqlite(row: Mapping[str, object]) -> QueueEntryRecord:
    return QueueEntryRecord(
        rcpt=str(row["rcpt"]),
        domain=str(row["domain"]),
        created=parse_time(str(row["created"])),
        attempts=_int(row["attempts"]),
        max_attempts=_int(row["max_attempts"]),
        next_attempt=parse_time(str(row["next_attempt"])),
        last_attempt=_opt_time(row["last_attempt"]),
        last_error=str(row["last_error"]),
        last_code=_int(row["last_code"]),
        last_enhanced=str(row["last_enhanced"]),
        remote_mta=str(row["remote_mta"]),
        hold=bool(row["hold"]),
        dsn_sent_delay=bool(row["dsn_sent_delay"]),
    )


def not_copied_line(rel_path: str, database: str) -> str:
    """One line for a database of the source that stays behind."""
    what = NOT_KEPT.get(database, f"the {database} database")
    return f"not copied: {rel_path}: {what}"


def uid_fixups(delivered: Iterable[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """The (original UID, modseq, message id) of messages delivered afresh
    (given UIDs 1, 2, ... in the order of their original UIDs), highest UID
    first: updating them in this order never meets a UID still taken (an
    original UID is never below the one given at delivery; the index is
    unique per mailbox)."""
    return sorted(delivered, key=lambda r: r[0], reverse=True)


def special_uses(kept: Mapping[str, str]) -> dict[str, str]:
    """The special use of each mailbox (by name) for the SQLite store, from
    those kept on PostgreSQL: kept ones as they are; a default mailbox without
    one (its use moved away, or a store from before special uses were kept on
    PostgreSQL) gets its default use, as the SQLite store would have given it,
    unless another mailbox has it (the stores keep one mailbox per use, RFC 6154
    §2)."""
    out = dict(kept)
    taken = {use for use in kept.values() if use}
    for name, use in sorted(kept.items()):
        default = DEFAULT_SPECIAL_USE.get(name, "")
        if not use and default and default not in taken:
            out[name] = default
            taken.add(default)
    return out
