"""One account in PostgreSQL as postel.store.api.AccountMail: what the webmail
and the admin pages use, for code outside the event loop (their handlers call
the store from threads, as they do the SQLite store).

The pool belongs to the event loop: each call runs the async operation of
PgAccount on that loop and waits for it (as postel.pg.syncstore does for IMAP).
The account is looked up at the first call, not when this is made, so that
making it on the loop's own thread (a request handler) never waits.
"""

from __future__ import annotations

import asyncio
import io
from array import array
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, TypeVar

from postel.pg.accountstore import PgAccount
from postel.pg.syncstore import LoopThreadError
from postel.store.changes import MailboxChanges
from postel.store.message import (
    DomainSecurity,
    FlagsStored,
    MailboxInfo,
    Message,
    StoreStats,
    ThreadSummary,
)

T = TypeVar("T")


class PgAccountMail:
    """AccountMail over PgAccount. *open_account*: a coroutine function giving
    the account (made on first use, or UnknownAccount), run on *loop*."""

    def __init__(
        self,
        name: str,
        open_account: Callable[[], Awaitable[PgAccount]],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.name = name
        self._open = open_account
        self.loop = loop
        self._account: PgAccount | None = None

    async def _acc(self) -> PgAccount:
        if self._account is None:
            self._account = await self._open()
        return self._account

    def _run(self, call: Callable[[PgAccount], Coroutine[object, object, T]]) -> T:
        async def run() -> T:
            return await call(await self._acc())

        coro = run()
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            coro.close()
            raise LoopThreadError(
                f"account {self.name!r}: PgAccountMail called on the event loop's thread"
            )
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    # -- mailboxes ----------------------------------------------------------

    def mailboxes(self) -> list[MailboxInfo]:
        return self._run(lambda a: a.mailboxes())

    def mailbox(self, name: str) -> MailboxInfo:
        return self._run(lambda a: a.mailbox(name))

    def create_mailbox(
        self, name: str, *, special_use: str = "", subscribe: bool = False
    ) -> MailboxInfo:
        """*special_use* (RFC 6154) is not kept by this store yet."""
        return self._run(lambda a: a.create_mailbox(name, subscribe=subscribe))

    def subscriptions(self) -> list[str]:
        return self._run(lambda a: a.subscriptions())

    def subscribe(self, name: str) -> None:
        self._run(lambda a: a.subscribe(name))

    def unsubscribe(self, name: str) -> None:
        self._run(lambda a: a.unsubscribe(name))

    def rename_mailbox(self, old: str, new: str) -> MailboxInfo:
        return self._run(lambda a: a.rename_mailbox(old, new))

    def delete_mailbox(self, name: str) -> int:
        return self._run(lambda a: a.delete_mailbox(name))

    def empty_mailbox(self, mailbox: str) -> int:
        return self._run(lambda a: a.empty_mailbox(mailbox))

    # -- listing and search -------------------------------------------------

    def list_messages(
        self,
        mailbox: str,
        *,
        offset: int = 0,
        limit: int = 50,
        newest_first: bool = True,
        cursor: int | None = None,
    ) -> list[Message]:
        return self._run(
            lambda a: a.list_messages(
                mailbox, offset=offset, limit=limit, newest_first=newest_first, cursor=cursor
            )
        )

    def list_threads(
        self,
        mailbox: str,
        *,
        limit: int = 50,
        newest_first: bool = True,
        cursor: int | None = None,
    ) -> list[ThreadSummary]:
        return self._run(
            lambda a: a.list_threads(mailbox, limit=limit, newest_first=newest_first, cursor=cursor)
        )

    def thread_summaries(self, mailbox: str, keys: Iterable[int]) -> list[ThreadSummary]:
        wanted = list(keys)
        return self._run(lambda a: a.thread_summaries(mailbox, wanted))

    def thread_messages(
        self, thread: int, *, mailbox: str | None = None, limit: int = 500
    ) -> list[Message]:
        return self._run(lambda a: a.thread_messages(thread, mailbox=mailbox, limit=limit))

    def search(
        self, query: str, *, mailbox: str | None = None, before: int | None = None, limit: int = 50
    ) -> list[Message]:
        return self._run(lambda a: a.search(query, mailbox=mailbox, before=before, limit=limit))

    @property
    def search_complete(self) -> bool:
        """Always: every message gets its index row when it is stored (mail
        stored before the index existed is indexed by its headers)."""
        return True

    def uids(self, mailbox: str) -> array[int]:
        return self._run(lambda a: a.uids(mailbox))

    def highest_modseq(self) -> int:
        return self._run(lambda a: a.highest_modseq())

    def changes_since(
        self, mailbox: str, modseq: int, *, limit: int | None = None
    ) -> MailboxChanges:
        return self._run(lambda a: a.changes_since(mailbox, modseq, limit=limit))

    # -- one message --------------------------------------------------------

    def get(self, msgid: int) -> Message:
        return self._run(lambda a: a.get(msgid))

    def get_by_uid(self, mailbox: str, uid: int) -> Message:
        return self._run(lambda a: a.get_by_uid(mailbox, uid))

    def open_message(self, msgid: int) -> BinaryIO:
        _, data = self._run(lambda a: a.body(msgid))
        return io.BytesIO(data)

    def read_message(self, msgid: int, start: int = 0, length: int = -1) -> bytes:
        _, data = self._run(lambda a: a.body(msgid))
        return data[start:] if length < 0 else data[start : start + length]

    def structures(self, msgids: Sequence[int]) -> dict[int, bytes]:
        return self._run(lambda a: a.structures(msgids))

    def keep_structures(self, structures: Mapping[int, tuple[bytes, bytes]]) -> None:
        self._run(lambda a: a.keep_structures(dict(structures)))

    def heads(self, msgids: Sequence[int]) -> dict[int, bytes]:
        return self._run(lambda a: a.heads(msgids))

    def answers(self, msgids: Sequence[int]) -> dict[int, dict[str, bytes]]:
        return self._run(lambda a: a.answers(msgids))

    def keep_answers(self, answers: Mapping[int, Mapping[str, bytes]]) -> None:
        kept = {k: dict(v) for k, v in answers.items()}
        self._run(lambda a: a.keep_answers(kept))

    # -- changes ------------------------------------------------------------

    def set_flags(self, msgid: int, add: Iterable[str] = (), remove: Iterable[str] = ()) -> Message:
        adding, removing = list(add), list(remove)
        return self._run(lambda a: a.set_flags(msgid, adding, removing))

    def store_flags(
        self,
        mailbox: str,
        uids: Iterable[int],
        flags: Iterable[str],
        mode: str,
        *,
        unchangedsince: int | None = None,
    ) -> FlagsStored:
        u, f = list(uids), list(flags)
        return self._run(
            lambda a: a.store_flags(mailbox, u, f, mode, unchangedsince=unchangedsince)
        )

    def move(self, msgid: int, mailbox: str) -> Message:
        return self._run(lambda a: a.move(msgid, mailbox))

    def copy(self, msgid: int, mailbox: str) -> Message:
        return self._run(lambda a: a.copy(msgid, mailbox))

    def remove(self, msgid: int) -> None:
        self._run(lambda a: a.remove(msgid))

    def expunge(self, mailbox: str) -> list[int]:
        return self._run(lambda a: a.expunge(mailbox))

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
        """Store the content of the caller's file *source* (left alone)."""
        return self.deliver_bytes(
            mailbox,
            source.read_bytes(),
            flags=flags,
            received=received,
            requiretls=requiretls,
            keywords=keywords,
        )

    def deliver_bytes(
        self,
        mailbox: str,
        data: bytes,
        *,
        flags: Iterable[str] = (),
        received: datetime | None = None,
        requiretls: bool = False,
        keywords: Iterable[str] = (),
    ) -> Message:
        f, k = list(flags), list(keywords)
        return self._run(
            lambda a: a.deliver(
                mailbox,
                data,
                flags=f,
                received=received,
                requiretls=requiretls,
                create=True,
                keywords=k,
            )
        )

    def append(
        self,
        mailbox: str,
        data: bytes,
        flags: Iterable[str] = (),
        internal_date: datetime | None = None,
        *,
        requiretls: bool = False,
    ) -> Message:
        return self.deliver_bytes(
            mailbox, data, flags=flags, received=internal_date, requiretls=requiretls
        )

    # -- the account as a whole ---------------------------------------------

    def usage(self) -> int:
        return self._run(lambda a: a.usage())

    def stats(self) -> StoreStats:
        return self._run(lambda a: a.stats())

    def check(self) -> list[str]:
        return self._run(lambda a: a.check())

    def remember_domain_security(
        self, domain: str, starttls: bool | None, requiretls: bool | None
    ) -> None:
        self._run(lambda a: a.remember_domain_security(domain, starttls, requiretls))

    def remember_domain_securities(
        self, findings: Iterable[tuple[str, bool | None, bool | None]]
    ) -> None:
        rows = list(findings)
        self._run(lambda a: a.remember_domain_securities(rows))

    def domain_security(self, domain: str) -> DomainSecurity:
        return self._run(lambda a: a.domain_security(domain))


if TYPE_CHECKING:
    from postel.store.api import AccountMail

    # mypy --strict checks here that PgAccountMail is what the webmail needs.
    _: type[AccountMail] = PgAccountMail
