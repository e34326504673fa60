"""Records handed out by the store: messages, mailboxes, domain security, stats."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Message:
    """A stored message as the index knows it (no file access needed)."""

    msgid: int
    mailbox: str
    uid: int
    flags: frozenset[str]
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
    keywords: frozenset[str] = field(default_factory=frozenset)
    modseq: int = 0  # RFC 7162 MODSEQ: of the last change to the message
    thread: int = 0  # thread key (store/threads.py): the msgid that started it

    @property
    def seen(self) -> bool:
        return "\\Seen" in self.flags


@dataclass(frozen=True)
class MailboxInfo:
    name: str
    id: int
    uidvalidity: int
    uidnext: int
    total: int
    unseen: int
    size: int
    highestmodseq: int = 0  # RFC 7162 HIGHESTMODSEQ
    special_use: str = ""  # RFC 6154 §2, e.g. "\\Sent"; "" for none


@dataclass(frozen=True, slots=True)
class FlagState:
    """A message's flags and modseq, as a batch flag change leaves them."""

    msgid: int
    uid: int
    flags: frozenset[str]
    keywords: frozenset[str]
    modseq: int


@dataclass(frozen=True)
class FlagsStored:
    """What a batch flag change (AccountStore.store_flags) did: every named
    message still in the mailbox with its flags and modseq afterwards, in UID
    order, and the UIDs left alone because they changed after UNCHANGEDSINCE
    (RFC 7162 §3.1.3). *modseq*: the change's modseq, 0 when nothing changed."""

    messages: list[FlagState]
    modified: list[int]
    modseq: int = 0


@dataclass(frozen=True)
class DomainSecurity:
    """What an account's earlier deliveries saw at a recipient domain.

    None means unknown (never observed)."""

    domain: str
    starttls: bool | None
    requiretls: bool | None
    updated: datetime | None


@dataclass(frozen=True)
class StoreStats:
    messages: int
    message_bytes: int  # sum of the stored message sizes
    index_bytes: int  # index.db with its WAL
    mailboxes: int

    @property
    def disk_usage(self) -> int:
        return self.message_bytes + self.index_bytes


@dataclass(frozen=True)
class ThreadSummary:
    """A thread as a mailbox lists it: its newest message there and counts."""

    head: Message
    messages: int  # in this mailbox
    unseen: int
