"""The PostgreSQL account store as postel.imapserver.storeapi.MailStore.

IMAP sessions call the store from worker threads; the pool and its
connections belong to the event loop. Each call here runs the async operation
on that loop and waits for it, so a session thread never touches a connection.
Message bodies are read from files (MailStore.open_message): written once
into a local cache named by their SHA-256, which never changes for a name.
"""

from __future__ import annotations

import asyncio
import os
from array import array
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, TypeVar

from postel.fsutil import write_private_copy
from postel.pg.accountstore import PgAccount
from postel.pg.bodycache import copy_path, mark_used
from postel.pg.errors import PgError
from postel.pg.pool import reachable
from postel.store.changes import MailboxChanges
from postel.store.message import FlagsStored, MailboxInfo, Message

T = TypeVar("T")


class LoopThreadError(PgError):
    """A synchronous store call made on the event loop's own thread (it would wait forever)."""


class PgMailStore:
    """MailStore over PgAccount, for code running outside the event loop."""

    def __init__(
        self, account: PgAccount, loop: asyncio.AbstractEventLoop, body_cache: Path
    ) -> None:
        self.account = account
        self.loop = loop
        self.body_cache = body_cache

    def _run(self, coro: Coroutine[object, object, T]) -> T:
        if self.loop.is_running() and _loop_thread(self.loop):
            coro.close()
            raise LoopThreadError(
                f"account {self.account.name!r}: PgMailStore called on the event loop's thread"
            )
        with reachable(f"account {self.account.name!r}"):
            return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def mailboxes(self) -> list[MailboxInfo]:
        return self._run(self.account.mailboxes())

    def mailbox(self, name: str) -> MailboxInfo:
        return self._run(self.account.mailbox(name))

    def create_mailbox(self, name: str, *, special_use: str = "") -> MailboxInfo:
        return self._run(self.account.create_mailbox(name, special_use=special_use))

    def subscriptions(self) -> list[str]:
        return self._run(self.account.subscriptions())

    def subscribe(self, name: str) -> None:
        self._run(self.account.subscribe(name))

    def unsubscribe(self, name: str) -> None:
        self._run(self.account.unsubscribe(name))

    def rename_mailbox(self, old: str, new: str) -> MailboxInfo:
        return self._run(self.account.rename_mailbox(old, new))

    def delete_mailbox(self, name: str) -> int:
        return self._run(self.account.delete_mailbox(name))

    def page(self, mailbox: str, after_uid: int, limit: int) -> list[Message]:
        return self._run(self.account.page(mailbox, after_uid, limit))

    def uids(self, mailbox: str) -> array[int]:
        return self._run(self.account.uids(mailbox))

    def changes_since(self, mailbox: str, modseq: int) -> MailboxChanges:
        return self._run(self.account.changes_since(mailbox, modseq))

    def store_flags(
        self,
        mailbox: str,
        uids: Iterable[int],
        flags: Iterable[str],
        mode: str,
        *,
        unchangedsince: int | None = None,
    ) -> FlagsStored:
        return self._run(
            self.account.store_flags(
                mailbox, list(uids), list(flags), mode, unchangedsince=unchangedsince
            )
        )

    def get_by_uid(self, mailbox: str, uid: int) -> Message:
        return self._run(self.account.get_by_uid(mailbox, uid))

    def structures(self, msgids: Sequence[int]) -> dict[int, bytes]:
        return self._run(self.account.structures(msgids))

    def keep_structures(self, structures: Mapping[int, tuple[bytes, bytes]]) -> None:
        self._run(self.account.keep_structures(dict(structures)))

    def heads(self, msgids: Sequence[int]) -> dict[int, bytes]:
        return self._run(self.account.heads(msgids))

    def answers(self, msgids: Sequence[int]) -> dict[int, dict[str, bytes]]:
        return self._run(self.account.answers(msgids))

    def keep_answers(self, answers: Mapping[int, Mapping[str, bytes]]) -> None:
        self._run(self.account.keep_answers({k: dict(v) for k, v in answers.items()}))

    def open_message(self, msgid: int) -> BinaryIO:
        """The body, read from a file of the local cache (written on first use,
        so that IMAP can map it as it maps the SQLite store's files): only the
        body's hash is asked for when the node has its copy already. A copy of
        the wrong size (cut by a crash: copies are not fsynced) is written again."""
        digest, size = self._run(self.account.body_digest(msgid))
        path = copy_path(self.body_cache, digest)
        try:
            fp = path.open("rb")
        except FileNotFoundError:
            pass
        else:
            st = os.fstat(fp.fileno())
            if st.st_size == size:
                mark_used(path, st.st_mtime)  # kept by the cache's bound (postel.pg.bodycache)
                return fp
            fp.close()
        _digest, data = self._run(self.account.body(msgid))
        write_private_copy(path, data)
        return path.open("rb")

    def set_flags(self, msgid: int, add: Iterable[str], remove: Iterable[str]) -> Message:
        return self._run(self.account.set_flags(msgid, list(add), list(remove)))

    def move(self, msgid: int, mailbox: str) -> Message:
        return self._run(self.account.move(msgid, mailbox))

    def copy(self, msgid: int, mailbox: str) -> Message:
        return self._run(self.account.copy(msgid, mailbox))

    def remove(self, msgid: int) -> None:
        self._run(self.account.remove(msgid))

    def usage(self) -> int:
        return self._run(self.account.usage())

    def append(
        self, mailbox: str, source: Path, flags: Iterable[str], received: datetime | None
    ) -> Message:
        data = source.read_bytes()
        return self._run(self.account.append(mailbox, data, list(flags), received))


if TYPE_CHECKING:
    from postel.imapserver.storeapi import MailStore

    # mypy --strict checks here that PgMailStore is what IMAP sessions need.
    _: type[MailStore] = PgMailStore


def _loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
