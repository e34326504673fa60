"""An account's mailboxes in PostgreSQL: create, rename, delete (part of PgAccount)."""

from __future__ import annotations

from postel.pg.bodies import drop_unused_bodies, left_in_object_store
from postel.pg.changetx import ChangeTx, change_tx
from postel.pg.reading import Reading
from postel.pg.rows import col_bytes, col_int
from postel.store.errors import MailboxExists, SpecialUseTaken, StoreError
from postel.store.message import MailboxInfo
from postel.store.names import INBOX, SEPARATOR, check_special_use, normalize_mailbox


async def insert_mailbox(tx: ChangeTx, name: str, special_use: str = "") -> int | None:
    """A new mailbox with the account's next UIDVALIDITY (strictly increasing, so
    a re-created mailbox never reuses one: RFC 9051 §2.3.1.1); None if it exists.
    *special_use*: RFC 6154 §2, checked by the caller."""
    modseq = await tx.modseq()
    cur = await tx.conn.execute(
        "WITH v AS (UPDATE account SET next_uidvalidity = next_uidvalidity + 1 "
        "WHERE id = %s RETURNING next_uidvalidity - 1 AS uidvalidity) "
        "INSERT INTO mailbox (account_id, name, uidvalidity, highestmodseq, special_use) "
        "SELECT %s, %s, v.uidvalidity, %s, %s FROM v "
        "ON CONFLICT (account_id, name) DO NOTHING RETURNING id",
        (tx.account_id, tx.account_id, name, modseq, special_use),
    )
    row = await cur.fetchone()
    if row is None:
        return None
    mailbox_id = col_int(row[0])
    tx.touched[mailbox_id] = name
    return mailbox_id


class Mailboxes(Reading):
    """Mailbox changes, each in one change transaction."""

    async def create_mailbox(
        self, name: str, *, subscribe: bool = False, special_use: str = ""
    ) -> MailboxInfo:
        """Create mailbox *name* (*subscribe*: and subscribe to it), with
        *special_use* (RFC 6154 §3: one the store supports and no other mailbox
        of the account has)."""
        name = normalize_mailbox(name)
        use = check_special_use(special_use) if special_use else ""
        async with change_tx(self.pool, self.id, self.name) as tx:
            await tx.modseq()  # the account's lock first: the use's holder stays
            if use:
                cur = await tx.conn.execute(
                    "SELECT name FROM mailbox WHERE account_id = %s AND special_use = %s",
                    (self.id, use),
                )
                holder = await cur.fetchone()
                if holder is not None:
                    raise SpecialUseTaken(
                        f"account {self.name!r}: mailbox {holder[0]!r} has special use {use} "
                        "already"
                    )
            if await insert_mailbox(tx, name, use) is None:
                raise MailboxExists(f"account {self.name!r}: mailbox {name!r} exists")
            if subscribe:
                await tx.conn.execute(
                    "INSERT INTO subscription (account_id, name) VALUES (%s, %s) "
                    "ON CONFLICT DO NOTHING",
                    (self.id, name),
                )
        return await self.mailbox(name)

    async def rename_mailbox(self, old: str, new: str) -> MailboxInfo:
        """Rename a mailbox and its children, keeping UIDVALIDITY and UIDs."""
        old, new = normalize_mailbox(old), normalize_mailbox(new)
        if INBOX in (old, new):
            raise StoreError(f"account {self.name!r}: the Inbox cannot be renamed or replaced")
        async with change_tx(self.pool, self.id, self.name) as tx:
            await tx.modseq()  # the account's lock first: renames are serialized
            box = await self._mailbox_row(tx.conn, old, lock=True)
            prefix = old + SEPARATOR
            cur = await tx.conn.execute(
                "SELECT id, name FROM mailbox WHERE account_id = %s AND starts_with(name, %s)",
                (self.id, prefix),
            )
            renames = [(col_int(box[1]), old, new)] + [
                (col_int(r[0]), str(r[1]), new + SEPARATOR + str(r[1])[len(prefix) :])
                for r in await cur.fetchall()
            ]
            cur = await tx.conn.execute(
                "SELECT name FROM mailbox WHERE account_id = %s AND name = ANY(%s)",
                (self.id, [target for _, _, target in renames]),
            )
            taken = await cur.fetchone()
            if taken is not None:
                raise MailboxExists(f"account {self.name!r}: mailbox {taken[0]!r} exists")
            for mailbox_id, source, target in renames:
                await tx.conn.execute(
                    "UPDATE mailbox SET name = %s WHERE id = %s", (target, mailbox_id)
                )
                # The subscription goes with the mailbox, as on the SQLite store
                # (and Dovecot), so a client listing subscriptions keeps seeing it.
                cur = await tx.conn.execute(
                    "DELETE FROM subscription WHERE account_id = %s AND name = %s",
                    (self.id, source),
                )
                if cur.rowcount:
                    await tx.conn.execute(
                        "INSERT INTO subscription (account_id, name) VALUES (%s, %s) "
                        "ON CONFLICT DO NOTHING",
                        (self.id, target),
                    )
                await tx.touch(mailbox_id, target)
                tx.touched[-mailbox_id] = source  # the old name hears of it too
        return await self.mailbox(new)

    async def delete_mailbox(self, name: str) -> int:
        """Delete a mailbox (not the Inbox) with its messages; child mailboxes stay."""
        name = normalize_mailbox(name)
        if name == INBOX:
            raise StoreError(f"account {self.name!r}: the Inbox cannot be deleted")
        async with change_tx(self.pool, self.id, self.name) as tx:
            await tx.modseq()
            box = await self._mailbox_row(tx.conn, name, lock=True)
            cur = await tx.conn.execute(
                "DELETE FROM message WHERE mailbox_id = %s RETURNING body", (box[1],)
            )
            bodies = [col_bytes(r[0]) for r in await cur.fetchall()]
            await tx.conn.execute("DELETE FROM mailbox WHERE id = %s", (box[1],))
            tx.touched[col_int(box[1])] = name
            dropped = await drop_unused_bodies(tx.conn, bodies)
        left_in_object_store(dropped)
        return len(bodies)
