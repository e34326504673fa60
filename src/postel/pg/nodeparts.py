"""The PostgreSQL store as a serving node's parts see it.

`postel serve` hands its parts narrow interfaces (postel.wiring): local
delivery the account store's `Accounts`, logins `Passwords`, IMAP a function
opening an account's `MailStore`. Here are those three over one node's pool:

- :class:`PgAccounts`: delivery into PgStore (SMTP inbound and submission to
  local accounts, bounces, reports to local accounts), IMAP's account stores
  (PgMailStore) and the accounts of the webmail and the admin pages
  (PgAccountMail, postel.store.api.AccountMail).
- :class:`PgPasswords`: PgCredentials for SMTP AUTH and IMAP logins, which
  ask from threads.

Each synchronous call runs its coroutine on the event loop that owns the pool
and waits for it, so it must come from another thread (as the store's other
callers do: postel.pg.syncstore).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
from collections.abc import Coroutine, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from postel.pg.accountmail import PgAccountMail
from postel.pg.accountstore import PgAccount, PgStore
from postel.pg.credentials import PgCredentials
from postel.pg.errors import PgError
from postel.pg.newmessage import Prepared, insert_message, prepare
from postel.pg.objectput import put_body
from postel.pg.pool import reachable
from postel.pg.syncstore import PgMailStore
from postel.store.errors import OverQuota, UnknownAccount
from postel.store.message import Message
from postel.store.msgfile import write_message
from postel.store.names import check_account_name, normalize_mailbox

if TYPE_CHECKING:
    from postel.store.api import AccountMail, Accounts, Delivered
    from postel.store.credentials import PasswordStore

T = TypeVar("T")

ACCOUNTS_KEPT = 1000  # accounts whose PgAccountMail account() keeps

log = logging.getLogger("postel.pg")


class NotOnPostgreSQL(PgError):
    """An operation of the account store the PostgreSQL backend does not have yet."""


def _on_loop(loop: asyncio.AbstractEventLoop, coro: Coroutine[object, object, T]) -> T:
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        coro.close()
        raise NotOnPostgreSQL("PostgreSQL store: a blocking call made on the event loop's thread")
    with reachable("PostgreSQL store"):
        return asyncio.run_coroutine_threadsafe(coro, loop).result()


class PgAccounts:
    """The node's accounts in PostgreSQL as postel.store.api.Accounts (the
    delivery path) and IMAP's account stores. *body_cache*: the node's local
    directory of message bodies for IMAP (postel.pg.syncstore)."""

    def __init__(self, store: PgStore, loop: asyncio.AbstractEventLoop, body_cache: Path) -> None:
        self.store = store
        self.loop = loop
        self.body_cache = body_cache
        self._closed = False
        self._accounts: dict[str, PgAccountMail] = {}  # account() by name

    async def _account(self, name: str) -> PgAccount:
        """The account, made with its default mailboxes on first use (as the
        SQLite store makes an account's directory on first delivery)."""
        try:
            return await self.store.account(name)
        except UnknownAccount:
            return await self.store.create_account(name)

    def mailstore(self, name: str) -> PgMailStore:
        """Account *name* for an IMAP session (called from its thread)."""
        account = _on_loop(self.loop, self._account(name))
        return PgMailStore(account, self.loop, self.body_cache)

    # -- postel.store.api.Accounts ------------------------------------------

    def account(self, name: str, *, create: bool = True) -> AccountMail:
        """Account *name* (made with its default mailboxes on first use when
        *create*, else UnknownAccount at the first call). Looked up at its first
        call, so this may be called on the event loop's thread."""
        check_account_name(name)
        cached = self._accounts.get(name)
        if cached is not None:
            return cached
        opener = self._account if create else self.store.account
        acc = PgAccountMail(name, functools.partial(opener, name), self.loop)
        if create:
            if len(self._accounts) >= ACCOUNTS_KEPT:
                self._accounts.pop(next(iter(self._accounts)))
            self._accounts[name] = acc
        return acc

    def account_names(self) -> list[str]:
        return _on_loop(self.loop, self._names())

    async def _names(self) -> list[str]:
        async with self.store.pool.connection() as conn:
            cur = await conn.execute("SELECT name FROM account ORDER BY name")
            return [str(r[0]) for r in await cur.fetchall()]

    def quota_of(self, name: str) -> int:
        """The quota of account *name* in bytes; 0: none."""
        return self.store.quota_of(name)

    def check_quota(self, accounts: Iterable[str], size: int = 0) -> OverQuota | None:
        """The first of *accounts* that is full or has no room for *size* more
        bytes (blocking: call in a thread); None when all have room. The
        delivery itself checks again, under the account's lock (postel.pg.quota)."""
        limited = {n: q for n in dict.fromkeys(accounts) if (q := self.quota_of(n))}
        if not limited:
            return None
        used = _on_loop(self.loop, self.store.usages(list(limited)))
        for name, quota in limited.items():
            if used[name] >= quota or used[name] + size > quota:
                return OverQuota(name, used[name], quota, size)
        return None

    async def deliver_bytes(
        self, targets: Sequence[tuple[str, str]], data: bytes, *, requiretls: bool = False
    ) -> Delivered:
        """Store *data* in each (account, mailbox) of *targets*, each in its own
        transaction, stopping at the first failure (which is returned, as the
        SQLite store's delivery path does: the caller answers 4xx)."""
        done: list[tuple[str, Message]] = []
        prepared: dict[str, Prepared] = {}
        if self.store.objects is not None and targets:
            try:  # once for all recipients, before any row names it (recorded
                # first, so that the object sweep leaves it alone)
                digest = await asyncio.to_thread(lambda: hashlib.sha256(data).digest())
                await put_body(self.store.pool, self.store.objects, digest, data)
            except Exception as exc:
                return done, exc
        for name, mailbox in targets:
            try:
                with reachable(f"account {name!r}"):
                    msg = None
                    if not self.store.quota_of(name):
                        msg = await self._deliver_existing(
                            name, mailbox, data, prepared, requiretls
                        )
                    if msg is None:  # a new account or mailbox (made on the way), or a quota
                        account = await self._account(name)
                        msg = await account.deliver(
                            mailbox, data, requiretls=requiretls, create=True
                        )
            except Exception as exc:  # the database gone, a bad mailbox name
                return done, exc
            done.append((name, msg))
        return done, None

    async def _deliver_existing(
        self,
        name: str,
        mailbox: str,
        data: bytes,
        prepared: dict[str, Prepared],
        requiretls: bool,
    ) -> Message | None:
        """The common case in two round trips, without reading the account's id
        first (postel.pg.newmessage); None when the account or the mailbox does
        not exist yet. *prepared*: per account name (its log lines name it)."""
        check_account_name(name)
        mailbox = normalize_mailbox(mailbox)
        if name not in prepared:
            # Parsing and hashing are CPU work: not on the event loop.
            prepared[name] = await asyncio.to_thread(prepare, data, name)
        return await insert_message(
            self.store.pool,
            name,
            mailbox,
            data,
            prepared[name],
            flags=(),
            received=datetime.now(UTC),
            requiretls=requiretls,
            inline=self.store.objects is None,
        )

    async def deliver_file(
        self, targets: Sequence[tuple[str, str]], path: Path, *, requiretls: bool = False
    ) -> Delivered:
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except OSError as exc:
            return [], exc
        return await self.deliver_bytes(targets, data, requiretls=requiretls)

    async def write_and_deliver(
        self,
        targets: Sequence[tuple[str, str]],
        path: Path,
        headers: bytes,
        body: bytes | Path,
        *,
        requiretls: bool = False,
        text: str | None = None,
    ) -> Delivered:
        """Write the new file *path* (left for the caller, who may forward it)
        and store its content; *text* is for a search index this store has not."""
        await asyncio.to_thread(write_message, path, headers, body)
        return await self.deliver_file(targets, path, requiretls=requiretls)

    def finish_deliveries(self) -> None:
        """Nothing waits: each delivery commits before it returns."""

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        self._closed = True


class PgPasswords:
    """PgCredentials as postel.store.credentials.PasswordStore: for logins, and
    for the admin pages' and the webmail's use of the passwords."""

    def __init__(self, credentials: PgCredentials, loop: asyncio.AbstractEventLoop) -> None:
        self.credentials = credentials
        self.loop = loop

    def verify(self, account: str, password: str) -> bool:
        return _on_loop(self.loop, self.credentials.verify(account, password))

    def scram_sha256_or_decoy(self, name: str) -> tuple[bytes, int, bytes, bytes]:
        return _on_loop(self.loop, self.credentials.scram_sha256_or_decoy(name))

    def set_password(self, account: str, password: str) -> None:
        _on_loop(self.loop, self.credentials.set_password(account, password))

    def accounts(self) -> list[str]:
        return _on_loop(self.loop, self.credentials.accounts())

    def remove(self, account: str) -> bool:
        return _on_loop(self.loop, self.credentials.remove(account))

    def close(self) -> None:
        """The pool is the wiring root's; nothing of its own to close."""


if TYPE_CHECKING:
    # mypy --strict checks here that these are what the parts are given.
    _accounts: type[Accounts] = PgAccounts
    _passwords: type[PasswordStore] = PgPasswords
