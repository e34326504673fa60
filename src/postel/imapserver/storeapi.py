"""What an IMAP session needs of an account's mail store, and the adapter to
postel.store.api.AccountMail. All methods are synchronous (the session calls
them in a thread); none returns a whole mailbox at once."""

from __future__ import annotations

import contextlib
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Protocol

from postel.store import MailboxInfo, Message, MessageNotFound
from postel.store.api import AccountMail
from postel.store.changes import MailboxChanges
from postel.store.message import FlagsStored

PAGE = 2000  # messages per index page


class MailStore(Protocol):
    """One account's mailboxes and messages, as IMAP sees them."""

    def mailboxes(self) -> list[MailboxInfo]: ...
    def mailbox(self, name: str) -> MailboxInfo: ...
    def create_mailbox(self, name: str, *, special_use: str = "") -> MailboxInfo: ...
    def subscriptions(self) -> list[str]:
        """Subscribed store names, existing as mailboxes or not."""
        ...

    def subscribe(self, name: str) -> None: ...
    def unsubscribe(self, name: str) -> None: ...
    def rename_mailbox(self, old: str, new: str) -> MailboxInfo: ...
    def delete_mailbox(self, name: str) -> int: ...
    def page(self, mailbox: str, after_uid: int, limit: int) -> list[Message]:
        """Messages with UID > *after_uid* in UID order, at most *limit*."""
        ...

    def uids(self, mailbox: str) -> array[int]:
        """Every UID of *mailbox*, ascending (from the index only)."""
        ...

    def changes_since(self, mailbox: str, modseq: int) -> MailboxChanges:
        """Messages changed and UIDs removed after *modseq* (RFC 7162)."""
        ...

    def store_flags(
        self,
        mailbox: str,
        uids: Iterable[int],
        flags: Iterable[str],
        mode: str,
        *,
        unchangedsince: int | None = None,
    ) -> FlagsStored:
        """One transaction for a whole STORE ("add", "remove", "replace")."""
        ...

    def get_by_uid(self, mailbox: str, uid: int) -> Message: ...
    def structures(self, msgids: Sequence[int]) -> dict[int, bytes]:
        """Stored MIME structures (postel.store.mimestructure) by msgid."""
        ...

    def keep_structures(self, structures: Mapping[int, tuple[bytes, bytes]]) -> None:
        """Store structures and header fields computed from the files (mail
        stored before them)."""
        ...

    def heads(self, msgids: Sequence[int]) -> dict[int, bytes]:
        """The stored common header fields (mimestructure.head_of) by msgid."""
        ...

    def answers(self, msgids: Sequence[int]) -> dict[int, dict[str, bytes]]:
        """Answers kept by :meth:`keep_answers`, by msgid and item."""
        ...

    def keep_answers(self, answers: Mapping[int, Mapping[str, bytes]]) -> None:
        """Keep answers derived from the files (ENVELOPE, BODYSTRUCTURE)."""
        ...

    def open_message(self, msgid: int) -> BinaryIO:
        """The message's content; the caller closes it. MessageNotFound when
        it was expunged meanwhile."""
        ...

    def set_flags(self, msgid: int, add: Iterable[str], remove: Iterable[str]) -> Message: ...
    def move(self, msgid: int, mailbox: str) -> Message: ...
    def copy(self, msgid: int, mailbox: str) -> Message: ...
    def remove(self, msgid: int) -> None: ...
    def usage(self) -> int:
        """Bytes of all the account's messages (what its quota counts)."""
        ...

    def append(
        self, mailbox: str, source: Path, flags: Iterable[str], received: datetime | None
    ) -> Message: ...


def iter_messages(store: MailStore, mailbox: str, after_uid: int = 0) -> Iterator[Message]:
    """Every message of *mailbox* in UID order, one index page at a time."""
    while True:
        page = store.page(mailbox, after_uid, PAGE)
        yield from page
        if len(page) < PAGE:
            return
        after_uid = page[-1].uid


def page_messages(store: MailStore, mailbox: str, uids: list[int]) -> list[Message]:
    """The messages of ascending *uids*, read in index pages from the first."""
    if not uids:
        return []
    wanted = set(uids)
    out: list[Message] = []
    if len(uids) <= 3:
        for uid in uids:
            with contextlib.suppress(MessageNotFound):
                out.append(store.get_by_uid(mailbox, uid))
        return out
    after, last = uids[0] - 1, uids[-1]
    while after < last:
        page = store.page(mailbox, after, min(PAGE, last - after))
        out.extend(m for m in page if m.uid in wanted)
        if not page or page[-1].uid >= last:
            break
        after = page[-1].uid
    return out


class AccountMailStore:
    """MailStore over the account store's interface (postel.store.api)."""

    def __init__(self, account: AccountMail) -> None:
        self.account = account

    def mailboxes(self) -> list[MailboxInfo]:
        return self.account.mailboxes()

    def mailbox(self, name: str) -> MailboxInfo:
        return self.account.mailbox(name)

    def create_mailbox(self, name: str, *, special_use: str = "") -> MailboxInfo:
        return self.account.create_mailbox(name, special_use=special_use)

    def subscriptions(self) -> list[str]:
        return self.account.subscriptions()

    def subscribe(self, name: str) -> None:
        self.account.subscribe(name)

    def unsubscribe(self, name: str) -> None:
        self.account.unsubscribe(name)

    def rename_mailbox(self, old: str, new: str) -> MailboxInfo:
        return self.account.rename_mailbox(old, new)

    def delete_mailbox(self, name: str) -> int:
        return self.account.delete_mailbox(name)

    def page(self, mailbox: str, after_uid: int, limit: int) -> list[Message]:
        return self.account.list_messages(
            mailbox, limit=limit, newest_first=False, cursor=after_uid
        )

    def uids(self, mailbox: str) -> array[int]:
        return self.account.uids(mailbox)

    def changes_since(self, mailbox: str, modseq: int) -> MailboxChanges:
        return self.account.changes_since(mailbox, modseq)

    def store_flags(
        self,
        mailbox: str,
        uids: Iterable[int],
        flags: Iterable[str],
        mode: str,
        *,
        unchangedsince: int | None = None,
    ) -> FlagsStored:
        return self.account.store_flags(mailbox, uids, flags, mode, unchangedsince=unchangedsince)

    def get_by_uid(self, mailbox: str, uid: int) -> Message:
        return self.account.get_by_uid(mailbox, uid)

    def structures(self, msgids: Sequence[int]) -> dict[int, bytes]:
        return self.account.structures(msgids)

    def keep_structures(self, structures: Mapping[int, tuple[bytes, bytes]]) -> None:
        self.account.keep_structures(structures)

    def heads(self, msgids: Sequence[int]) -> dict[int, bytes]:
        return self.account.heads(msgids)

    def answers(self, msgids: Sequence[int]) -> dict[int, dict[str, bytes]]:
        return self.account.answers(msgids)

    def keep_answers(self, answers: Mapping[int, Mapping[str, bytes]]) -> None:
        self.account.keep_answers(answers)

    def open_message(self, msgid: int) -> BinaryIO:
        return self.account.open_message(msgid)

    def set_flags(self, msgid: int, add: Iterable[str], remove: Iterable[str]) -> Message:
        return self.account.set_flags(msgid, add, remove)

    def move(self, msgid: int, mailbox: str) -> Message:
        return self.account.move(msgid, mailbox)

    def copy(self, msgid: int, mailbox: str) -> Message:
        return self.account.copy(msgid, mailbox)

    def remove(self, msgid: int) -> None:
        self.account.remove(msgid)

    def usage(self) -> int:
        return self.account.usage()

    def append(
        self, mailbox: str, source: Path, flags: Iterable[str], received: datetime | None
    ) -> Message:
        from postel.store.names import split_flags

        system, keywords = split_flags(flags)
        return self.account.deliver(
            mailbox, source, flags=system, keywords=keywords, received=received
        )
