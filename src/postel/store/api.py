"""What the rest of postel may use of the account store: two Protocols.

`Accounts` is the store of all accounts of an installation, `AccountMail`
one account's mailboxes and messages. Webmail, IMAP, SMTP delivery, junk
training and the CLI type against these, never against the SQLite classes
(store.Store, store.AccountStore), so that another backend (PostgreSQL for the
index, an object store for the message files) can take their place.

Neither leaks SQLite or where a message is kept: content comes out as bytes
or a binary stream (`open_message`, `read_message`). What goes in may be a
file the caller wrote (`deliver`, `deliver_file`): that is the caller's file,
read once, not a path into the store.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Protocol

from postel.store.changes import MailboxChanges
from postel.store.errors import OverQuota
from postel.store.jobs import Result
from postel.store.message import (
    DomainSecurity,
    FlagsStored,
    MailboxInfo,
    Message,
    StoreStats,
    ThreadSummary,
)

# (account, message) delivered, and the store error that stopped delivery.
Delivered = Result


class AccountMail(Protocol):
    """One account's mailboxes and messages. Blocking: call from a thread
    when on an event loop."""

    name: str

    # -- mailboxes ----------------------------------------------------------
    def mailboxes(self) -> list[MailboxInfo]: ...
    def mailbox(self, name: str) -> MailboxInfo: ...
    def create_mailbox(
        self, name: str, *, special_use: str = "", subscribe: bool = False
    ) -> MailboxInfo: ...
    def subscriptions(self) -> list[str]: ...
    def subscribe(self, name: str) -> None: ...
    def unsubscribe(self, name: str) -> None: ...
    def rename_mailbox(self, old: str, new: str) -> MailboxInfo: ...
    def delete_mailbox(self, name: str) -> int: ...
    def empty_mailbox(self, mailbox: str) -> int: ...

    # -- listing and search -------------------------------------------------
    def list_messages(
        self,
        mailbox: str,
        *,
        offset: int = 0,
        limit: int = 50,
        newest_first: bool = True,
        cursor: int | None = None,
    ) -> list[Message]: ...
    def list_threads(
        self,
        mailbox: str,
        *,
        limit: int = 50,
        newest_first: bool = True,
        cursor: int | None = None,
    ) -> list[ThreadSummary]: ...
    def thread_summaries(self, mailbox: str, keys: Iterable[int]) -> list[ThreadSummary]: ...
    def thread_messages(
        self, thread: int, *, mailbox: str | None = None, limit: int = 500
    ) -> list[Message]: ...
    def search(
        self, query: str, *, mailbox: str | None = None, before: int | None = None, limit: int = 50
    ) -> list[Message]: ...
    @property
    def search_complete(self) -> bool: ...
    def uids(self, mailbox: str) -> array[int]: ...
    def highest_modseq(self) -> int: ...
    def changes_since(
        self, mailbox: str, modseq: int, *, limit: int | None = None
    ) -> MailboxChanges: ...

    # -- one message --------------------------------------------------------
    def get(self, msgid: int) -> Message: ...
    def get_by_uid(self, mailbox: str, uid: int) -> Message: ...
    def open_message(self, msgid: int) -> BinaryIO:
        """The message's content from its first byte; the caller closes it.
        MessageNotFound when it is not in the index."""
        ...

    def read_message(self, msgid: int, start: int = 0, length: int = -1) -> bytes:
        """*length* bytes (all to the end when negative) from offset *start*."""
        ...

    def structures(self, msgids: Sequence[int]) -> dict[int, bytes]: ...
    def keep_structures(self, structures: Mapping[int, tuple[bytes, bytes]]) -> None: ...
    def heads(self, msgids: Sequence[int]) -> dict[int, bytes]: ...
    def answers(self, msgids: Sequence[int]) -> dict[int, dict[str, bytes]]: ...
    def keep_answers(self, answers: Mapping[int, Mapping[str, bytes]]) -> None: ...

    # -- changes ------------------------------------------------------------
    def set_flags(
        self, msgid: int, add: Iterable[str] = (), remove: Iterable[str] = ()
    ) -> Message: ...
    def store_flags(
        self,
        mailbox: str,
        uids: Iterable[int],
        flags: Iterable[str],
        mode: str,
        *,
        unchangedsince: int | None = None,
    ) -> FlagsStored: ...
    def move(self, msgid: int, mailbox: str) -> Message: ...
    def copy(self, msgid: int, mailbox: str) -> Message:
        """A copy of message *msgid* in *mailbox*, with its flags and date."""
        ...

    def remove(self, msgid: int) -> None: ...
    def expunge(self, mailbox: str) -> list[int]: ...

    # -- adding -------------------------------------------------------------
    def deliver(
        self,
        mailbox: str,
        source: Path,
        *,
        flags: Iterable[str] = (),
        received: datetime | None = None,
        requiretls: bool = False,
        keywords: Iterable[str] = (),
    ) -> Message:
        """Add the caller's complete, fsynced file *source*, which is left alone."""
        ...

    def deliver_bytes(
        self,
        mailbox: str,
        data: bytes,
        *,
        flags: Iterable[str] = (),
        received: datetime | None = None,
        requiretls: bool = False,
        keywords: Iterable[str] = (),
    ) -> Message: ...
    def append(
        self,
        mailbox: str,
        data: bytes,
        flags: Iterable[str] = (),
        internal_date: datetime | None = None,
        *,
        requiretls: bool = False,
    ) -> Message: ...

    # -- the account as a whole ---------------------------------------------
    def usage(self) -> int: ...
    def stats(self) -> StoreStats: ...
    def check(self) -> list[str]: ...
    def remember_domain_security(
        self, domain: str, starttls: bool | None, requiretls: bool | None
    ) -> None: ...
    def remember_domain_securities(
        self, findings: Iterable[tuple[str, bool | None, bool | None]]
    ) -> None: ...
    def domain_security(self, domain: str) -> DomainSecurity: ...


class Accounts(Protocol):
    """The accounts of one installation, and the one delivery path into them."""

    def account(self, name: str, *, create: bool = True) -> AccountMail: ...
    def account_names(self) -> list[str]: ...
    def quota_of(self, name: str) -> int: ...
    def check_quota(self, accounts: Iterable[str], size: int = 0) -> OverQuota | None: ...

    async def deliver_file(
        self, targets: Sequence[tuple[str, str]], path: Path, *, requiretls: bool = False
    ) -> Delivered: ...
    async def write_and_deliver(
        self,
        targets: Sequence[tuple[str, str]],
        path: Path,
        headers: bytes,
        body: bytes | Path,
        *,
        requiretls: bool = False,
        text: str | None = None,
    ) -> Delivered: ...
    async def deliver_bytes(
        self, targets: Sequence[tuple[str, str]], data: bytes, *, requiretls: bool = False
    ) -> Delivered: ...

    def finish_deliveries(self) -> None:
        """Wait for the deliveries queued so far (blocking); later ones still run."""
        ...

    @property
    def closed(self) -> bool: ...
    def close(self) -> None: ...
