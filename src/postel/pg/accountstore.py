"""An account's mailboxes and messages in PostgreSQL (async).

What IMAP needs (the operations of postel.imapserver.storeapi.MailStore, made
synchronous by postel.pg.syncstore), delivery, and what the webmail and the
admin pages read (postel.pg.listing, postel.pg.accountwide; made synchronous
as postel.store.api.AccountMail by postel.pg.accountmail). Every change runs in one
transaction (postel.pg.changetx): UIDs from ``UPDATE mailbox ... RETURNING``,
the modseq from the account's counter, notifications queued before commit.
Message bodies are stored once per content (SHA-256); a copy is a new row
naming the same body, and a body no message names any more is deleted.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from psycopg_pool import AsyncConnectionPool

from postel.pg.accountwide import AccountWide
from postel.pg.changetx import ChangeTx
from postel.pg.listing import Listing
from postel.pg.mailboxes import Mailboxes, insert_mailbox
from postel.pg.messages import Messages
from postel.pg.pool import Conn
from postel.pg.quota import usages
from postel.pg.rows import col_int
from postel.pg.subscriptions import Subscriptions
from postel.store.errors import UnknownAccount
from postel.store.message import Message
from postel.store.names import DEFAULT_MAILBOXES, DEFAULT_SPECIAL_USE, check_account_name

if TYPE_CHECKING:
    from postel.pg.objectstore import ObjectStore


class PgAccount(Mailboxes, Messages, Subscriptions, Listing, AccountWide):
    """One account's mail in PostgreSQL."""


class PgStore:
    """The accounts of one PostgreSQL database; their bodies in *objects* when
    an object store is configured (postel.pg.objectstore)."""

    def __init__(
        self,
        pool: AsyncConnectionPool[Conn],
        objects: ObjectStore | None = None,
        *,
        quota: Callable[[str], int] | None = None,
    ) -> None:
        self.pool = pool
        self.objects = objects
        # An account's quota in bytes, 0 for none (domains.toml ``quota``):
        # enforced by every delivery, APPEND and COPY (postel.pg.quota).
        self._quota = quota

    def quota_of(self, name: str) -> int:
        """The quota of account *name* in bytes; 0: none."""
        return self._quota(name) if self._quota is not None else 0

    async def usages(self, names: Sequence[str]) -> dict[str, int]:
        """Bytes used by each of the accounts *names*, in one query."""
        async with self.pool.connection() as conn:
            return await usages(conn, names)

    async def create_account(self, name: str) -> PgAccount:
        """Create the account with the default mailboxes (nothing when it exists)."""
        check_account_name(name)
        async with self.pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "INSERT INTO account (name) VALUES (%s) ON CONFLICT (name) DO NOTHING RETURNING id",
                (name,),
            )
            row = await cur.fetchone()
            if row is not None:
                account_id = col_int(row[0])
                tx = ChangeTx(conn, account_id, name)
                for box in DEFAULT_MAILBOXES:
                    await insert_mailbox(tx, box, DEFAULT_SPECIAL_USE.get(box, ""))
                # Subscribed, as the SQLite store does, so that clients listing
                # subscriptions see them (RFC 9051 §6.3.9).
                await conn.execute(
                    "INSERT INTO subscription (account_id, name) SELECT %s, unnest(%s::text[])",
                    (account_id, list(DEFAULT_MAILBOXES)),
                )
                await tx.publish()
        return await self.account(name)

    async def account(self, name: str) -> PgAccount:
        check_account_name(name)
        async with self.pool.connection() as conn:
            cur = await conn.execute("SELECT id FROM account WHERE name = %s", (name,))
            row = await cur.fetchone()
        if row is None:
            raise UnknownAccount(f"account {name!r}: not in the PostgreSQL store")
        account = PgAccount(self.pool, name, col_int(row[0]), self.objects)
        if self._quota is not None:
            account.quota = functools.partial(self._quota, name)
        return account

    async def deliver(
        self,
        account: str,
        mailbox: str,
        data: bytes,
        *,
        flags: Iterable[str] = (),
        received: datetime | None = None,
        requiretls: bool = False,
    ) -> Message:
        """Store *data* in *mailbox* of *account* (created if missing)."""
        acct = await self.account(account)
        return await acct.deliver(
            mailbox, data, flags=flags, received=received, requiretls=requiretls, create=True
        )
