"""An account's mailboxes and messages in PostgreSQL (async).

What IMAP needs (the operations of postel.imapserver.storeapi.MailStore, made
synchronous by postel.pg.syncstore) plus delivery. Every change runs in one
transaction (postel.pg.changetx): UIDs from ``UPDATE mailbox ... RETURNING``,
the modseq from the account's counter, notifications queued before commit.
Message bodies are stored once per content (SHA-256); a copy is a new row
naming the same body, and a body no message names any more is deleted.
"""

from __future__ import annotations

import hashlib
import logging
from array import array
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime

import psycopg
from psycopg_pool import AsyncConnectionPool

from postel.pg.changetx import ChangeTx, change_tx
from postel.pg.pool import Conn
from postel.pg.rows import (
    MAILBOX_COLUMNS,
    MESSAGE_COLUMNS,
    Row,
    col_bytes,
    col_int,
    col_names,
    mailbox_order,
    to_mailbox,
    to_message,
)
from postel.store import mimestructure
from postel.store.changes import MailboxChanges
from postel.store.envelope import header_block, parse_envelope
from postel.store.errors import (
    MailboxExists,
    MailboxNotFound,
    MessageNotFound,
    StoreError,
    UnknownAccount,
)
from postel.store.message import FlagsStored, FlagState, MailboxInfo, Message
from postel.store.names import (
    DEFAULT_MAILBOXES,
    INBOX,
    SEPARATOR,
    check_account_name,
    normalize_mailbox,
    split_flags,
)

log = logging.getLogger("postel.pg")

FLAG_MODES = ("add", "remove", "replace")
HEADER_READ = 256 * 1024  # as postel.store.envelope.HEADER_LIMIT


def _sorted(values: Iterable[str]) -> list[str]:
    return sorted(values)


class PgStore:
    """The accounts of one PostgreSQL database."""

    def __init__(self, pool: AsyncConnectionPool[Conn]) -> None:
        self.pool = pool

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
                    await _insert_mailbox(tx, box)
                await tx.publish()
        return await self.account(name)

    async def account(self, name: str) -> PgAccount:
        check_account_name(name)
        async with self.pool.connection() as conn:
            cur = await conn.execute("SELECT id FROM account WHERE name = %s", (name,))
            row = await cur.fetchone()
        if row is None:
            raise UnknownAccount(f"account {name!r}: not in the PostgreSQL store")
        return PgAccount(self.pool, name, col_int(row[0]))

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


async def _insert_mailbox(tx: ChangeTx, name: str) -> int | None:
    """A new mailbox with the account's next UIDVALIDITY (strictly increasing, so
    a re-created mailbox never reuses one: RFC 9051 §2.3.1.1); None if it exists."""
    modseq = await tx.modseq()
    cur = await tx.conn.execute(
        "WITH v AS (UPDATE account SET next_uidvalidity = next_uidvalidity + 1 "
        "WHERE id = %s RETURNING next_uidvalidity - 1 AS uidvalidity) "
        "INSERT INTO mailbox (account_id, name, uidvalidity, highestmodseq) "
        "SELECT %s, %s, v.uidvalidity, %s FROM v ON CONFLICT (account_id, name) DO NOTHING "
        "RETURNING id",
        (tx.account_id, tx.account_id, name, modseq),
    )
    row = await cur.fetchone()
    if row is None:
        return None
    mailbox_id = col_int(row[0])
    tx.touched[mailbox_id] = name
    return mailbox_id


class PgAccount:
    """One account's mail in PostgreSQL."""

    def __init__(self, pool: AsyncConnectionPool[Conn], name: str, account_id: int) -> None:
        self.pool = pool
        self.name = name
        self.id = account_id

    # -- reading ----------------------------------------------------------

    async def _mailbox_row(self, conn: Conn, name: str, *, lock: bool = False) -> Row:
        cur = await conn.execute(
            f"SELECT {MAILBOX_COLUMNS} FROM mailbox WHERE account_id = %s AND name = %s"
            + (" FOR UPDATE" if lock else ""),
            (self.id, name),
        )
        row = await cur.fetchone()
        if row is None:
            raise MailboxNotFound(f"account {self.name!r}: no mailbox {name!r}")
        return row

    async def mailboxes(self) -> list[MailboxInfo]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT {MAILBOX_COLUMNS} FROM mailbox WHERE account_id = %s", (self.id,)
            )
            rows = await cur.fetchall()
        return mailbox_order([to_mailbox(r) for r in rows])

    async def mailbox(self, name: str) -> MailboxInfo:
        name = normalize_mailbox(name)
        async with self.pool.connection() as conn:
            return to_mailbox(await self._mailbox_row(conn, name))

    async def page(self, mailbox: str, after_uid: int, limit: int) -> list[Message]:
        mailbox = normalize_mailbox(mailbox)
        async with self.pool.connection() as conn:
            box = await self._mailbox_row(conn, mailbox)
            cur = await conn.execute(
                f"SELECT {MESSAGE_COLUMNS} FROM message m WHERE m.mailbox_id = %s "
                "AND m.uid > %s ORDER BY m.uid LIMIT %s",
                (box[1], after_uid, limit),
            )
            rows = await cur.fetchall()
        return [to_message(r, mailbox) for r in rows]

    async def uids(self, mailbox: str) -> array[int]:
        mailbox = normalize_mailbox(mailbox)
        out = array("I")
        async with self.pool.connection() as conn:
            box = await self._mailbox_row(conn, mailbox)
            cur = await conn.execute(
                "SELECT uid FROM message WHERE mailbox_id = %s ORDER BY uid", (box[1],)
            )
            for (uid,) in await cur.fetchall():
                out.append(col_int(uid))
        return out

    async def changes_since(self, mailbox: str, modseq: int) -> MailboxChanges:
        """Messages changed after *modseq* and UIDs removed after it, read in one
        snapshot (RFC 7162 §3.2.5, §3.2.10)."""
        mailbox = normalize_mailbox(mailbox)
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            box = await self._mailbox_row(conn, mailbox)
            cur = await conn.execute(
                f"SELECT {MESSAGE_COLUMNS} FROM message m WHERE m.mailbox_id = %s "
                "AND m.modseq > %s ORDER BY m.uid",
                (box[1], modseq),
            )
            rows = await cur.fetchall()
            cur = await conn.execute(
                "SELECT uid FROM vanished WHERE mailbox_id = %s AND modseq > %s ORDER BY uid",
                (box[1], modseq),
            )
            vanished = [col_int(r[0]) for r in await cur.fetchall()]
        info = to_mailbox(box)
        return MailboxChanges(
            mailbox=mailbox,
            uidvalidity=info.uidvalidity,
            highestmodseq=info.highestmodseq,
            changed=[to_message(r, mailbox) for r in rows],
            vanished=vanished,
        )

    async def _message_row(self, conn: Conn, msgid: int, *, lock: bool = False) -> Row:
        """MESSAGE_COLUMNS + mailbox id, mailbox name, body of one message."""
        cur = await conn.execute(
            f"SELECT {MESSAGE_COLUMNS}, m.mailbox_id, b.name, m.body FROM message m "
            "JOIN mailbox b ON b.id = m.mailbox_id WHERE m.id = %s AND b.account_id = %s"
            + (" FOR UPDATE OF m" if lock else ""),
            (msgid, self.id),
        )
        row = await cur.fetchone()
        if row is None:
            raise MessageNotFound(f"account {self.name!r}: no message with id {msgid}")
        return row

    async def get(self, msgid: int) -> Message:
        async with self.pool.connection() as conn:
            row = await self._message_row(conn, msgid)
        return to_message(row, str(row[18]))

    async def get_by_uid(self, mailbox: str, uid: int) -> Message:
        mailbox = normalize_mailbox(mailbox)
        async with self.pool.connection() as conn:
            box = await self._mailbox_row(conn, mailbox)
            cur = await conn.execute(
                f"SELECT {MESSAGE_COLUMNS} FROM message m WHERE m.mailbox_id = %s AND m.uid = %s",
                (box[1], uid),
            )
            row = await cur.fetchone()
        if row is None:
            raise MessageNotFound(f"account {self.name!r}: no uid {uid} in {mailbox!r}")
        return to_message(row, mailbox)

    async def body(self, msgid: int) -> tuple[bytes, bytes]:
        """(SHA-256, content) of a message."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT d.sha256, d.data FROM message m JOIN mailbox b ON b.id = m.mailbox_id "
                "JOIN body d ON d.sha256 = m.body WHERE m.id = %s AND b.account_id = %s",
                (msgid, self.id),
            )
            row = await cur.fetchone()
        if row is None:
            raise MessageNotFound(f"account {self.name!r}: no message with id {msgid}")
        if row[1] is None:
            raise StoreError(
                f"account {self.name!r}: message {msgid}: body kept outside PostgreSQL, "
                "and no object store is configured"
            )
        return col_bytes(row[0]), col_bytes(row[1])

    async def structures(self, msgids: Sequence[int]) -> dict[int, bytes]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT m.id, m.mime FROM message m JOIN mailbox b ON b.id = m.mailbox_id "
                "WHERE m.id = ANY(%s) AND b.account_id = %s AND m.mime IS NOT NULL",
                (list(msgids), self.id),
            )
            rows = await cur.fetchall()
        return {col_int(r[0]): col_bytes(r[1]) for r in rows}

    async def keep_structures(self, structures: Mapping[int, bytes]) -> None:
        """Not a change clients see (bodies never change, nor their structure)."""
        if not structures:
            return
        async with self.pool.connection() as conn, conn.transaction():
            cur = conn.cursor()
            await cur.executemany(
                "UPDATE message m SET mime = %s FROM mailbox b "
                "WHERE m.id = %s AND b.id = m.mailbox_id AND b.account_id = %s",
                [(blob, msgid, self.id) for msgid, blob in structures.items()],
            )

    async def usage(self) -> int:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT coalesce(sum(size), 0)::bigint FROM mailbox WHERE account_id = %s",
                (self.id,),
            )
            row = await cur.fetchone()
        return col_int(row[0]) if row is not None else 0

    # -- mailboxes --------------------------------------------------------

    async def create_mailbox(self, name: str) -> MailboxInfo:
        name = normalize_mailbox(name)
        async with change_tx(self.pool, self.id, self.name) as tx:
            if await _insert_mailbox(tx, name) is None:
                raise MailboxExists(f"account {self.name!r}: mailbox {name!r} exists")
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
            await _drop_unused_bodies(tx.conn, bodies)
        return len(bodies)

    # -- changing messages -----------------------------------------------

    async def deliver(
        self,
        mailbox: str,
        data: bytes,
        *,
        flags: Iterable[str] = (),
        received: datetime | None = None,
        requiretls: bool = False,
        create: bool = False,
    ) -> Message:
        """Store *data* as a new message of *mailbox*: body, UID and modseq in one
        transaction (*create*: make the mailbox if it does not exist)."""
        mailbox = normalize_mailbox(mailbox)
        system, keywords = split_flags(flags)
        env = parse_envelope(header_block(data[:HEADER_READ]))
        mime = _structure(data, self.name)
        when = received if received is not None else datetime.now(UTC)
        digest = hashlib.sha256(data).digest()
        async with change_tx(self.pool, self.id, self.name) as tx:
            modseq = await tx.modseq()
            # Locks the body row: a concurrent removal cannot drop it under us.
            await tx.conn.execute(
                "INSERT INTO body (sha256, size, data) VALUES (%s, %s, %s) "
                "ON CONFLICT (sha256) DO UPDATE SET size = excluded.size",
                (digest, len(data), data),
            )
            unseen = 0 if "\\Seen" in system else 1
            row = await self._allocate(tx, mailbox, len(data), unseen, modseq, create=create)
            mailbox_id, uid = row
            cur = await tx.conn.execute(
                "INSERT INTO message (mailbox_id, uid, modseq, flags, keywords, size, received, "
                "requiretls, subject, from_addr, to_addr, cc, date, message_id, in_reply_to, "
                "has_attachments, body, mime) VALUES "
                "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                f"RETURNING {MESSAGE_COLUMNS.replace('m.', '')}",
                (
                    mailbox_id,
                    uid,
                    modseq,
                    _sorted(system),
                    _sorted(keywords),
                    len(data),
                    when,
                    requiretls,
                    env.subject,
                    env.from_,
                    env.to,
                    env.cc,
                    env.date,
                    env.message_id,
                    env.in_reply_to,
                    env.has_attachments,
                    digest,
                    mime,
                ),
            )
            msg = await cur.fetchone()
            assert msg is not None
        return to_message(msg, mailbox)

    async def _allocate(
        self, tx: ChangeTx, mailbox: str, size: int, unseen: int, modseq: int, *, create: bool
    ) -> tuple[int, int]:
        """(mailbox id, UID) for one new message: the mailbox's counters move in
        the same UPDATE that hands out the UID."""
        for _ in range(2):
            cur = await tx.conn.execute(
                "UPDATE mailbox SET uidnext = uidnext + 1, highestmodseq = %s, "
                "total = total + 1, unseen = unseen + %s, size = size + %s "
                "WHERE account_id = %s AND name = %s RETURNING id, uidnext - 1",
                (modseq, unseen, size, self.id, mailbox),
            )
            row = await cur.fetchone()
            if row is not None:
                mailbox_id = col_int(row[0])
                tx.touched[mailbox_id] = mailbox
                return mailbox_id, col_int(row[1])
            if not create:
                break
            await _insert_mailbox(tx, mailbox)
        raise MailboxNotFound(f"account {self.name!r}: no mailbox {mailbox!r}")

    async def append(
        self, mailbox: str, data: bytes, flags: Iterable[str], received: datetime | None
    ) -> Message:
        return await self.deliver(mailbox, data, flags=flags, received=received)

    async def copy(self, msgid: int, mailbox: str) -> Message:
        """A new message in *mailbox* naming the same body, with the same flags."""
        mailbox = normalize_mailbox(mailbox)
        async with change_tx(self.pool, self.id, self.name) as tx:
            modseq = await tx.modseq()
            src = await self._message_row(tx.conn, msgid)
            size = col_int(src[4])
            unseen = 0 if "\\Seen" in to_message(src, "").flags else 1
            mailbox_id, uid = await self._allocate(tx, mailbox, size, unseen, modseq, create=False)
            cols = (
                "flags, keywords, size, received, requiretls, subject, from_addr, to_addr, cc, "
                "date, message_id, in_reply_to, has_attachments, thread_id, body, mime"
            )
            cur = await tx.conn.execute(
                f"INSERT INTO message (mailbox_id, uid, modseq, {cols}) "
                f"SELECT %s, %s, %s, {cols} FROM message WHERE id = %s "
                f"RETURNING {MESSAGE_COLUMNS.replace('m.', '')}",
                (mailbox_id, uid, modseq, msgid),
            )
            row = await cur.fetchone()
            assert row is not None
        return to_message(row, mailbox)

    async def move(self, msgid: int, mailbox: str) -> Message:
        """Move to another existing mailbox with a new UID there (RFC 6851)."""
        mailbox = normalize_mailbox(mailbox)
        async with change_tx(self.pool, self.id, self.name) as tx:
            modseq = await tx.modseq()
            src = await self._message_row(tx.conn, msgid, lock=True)
            source_id, source = col_int(src[17]), str(src[18])
            if source == mailbox:
                return to_message(src, source)
            size = col_int(src[4])
            unseen = 0 if "\\Seen" in to_message(src, "").flags else 1
            target_id, uid = await self._allocate(tx, mailbox, size, unseen, modseq, create=False)
            await tx.removed(source_id, source, [col_int(src[1])])
            await tx.conn.execute(
                "UPDATE mailbox SET total = total - 1, unseen = unseen - %s, size = size - %s "
                "WHERE id = %s",
                (unseen, size, source_id),
            )
            cur = await tx.conn.execute(
                "UPDATE message m SET mailbox_id = %s, uid = %s, modseq = %s WHERE id = %s "
                f"RETURNING {MESSAGE_COLUMNS}",
                (target_id, uid, modseq, msgid),
            )
            row = await cur.fetchone()
            assert row is not None
        return to_message(row, mailbox)

    async def remove(self, msgid: int) -> None:
        async with change_tx(self.pool, self.id, self.name) as tx:
            await tx.modseq()
            src = await self._message_row(tx.conn, msgid, lock=True)
            source_id, source = col_int(src[17]), str(src[18])
            size = col_int(src[4])
            unseen = 0 if "\\Seen" in to_message(src, "").flags else 1
            await tx.conn.execute("DELETE FROM message WHERE id = %s", (msgid,))
            await tx.removed(source_id, source, [col_int(src[1])])
            await tx.conn.execute(
                "UPDATE mailbox SET total = total - 1, unseen = unseen - %s, size = size - %s "
                "WHERE id = %s",
                (unseen, size, source_id),
            )
            await _drop_unused_bodies(tx.conn, [col_bytes(src[19])])

    async def set_flags(self, msgid: int, add: Iterable[str], remove: Iterable[str]) -> Message:
        """Add and remove flags and keywords; removing wins over adding."""
        add_flags, add_kw = split_flags(add)
        remove_flags, remove_kw = split_flags(remove)
        try:
            await self._set_flags(msgid, add_flags | add_kw, remove_flags | remove_kw)
        except _NoChange as unchanged:
            assert unchanged.message is not None
            return unchanged.message
        return await self.get(msgid)

    async def _set_flags(self, msgid: int, add: frozenset[str], remove: frozenset[str]) -> None:
        add_flags, add_kw = split_flags(add)
        remove_flags, remove_kw = split_flags(remove)
        async with change_tx(self.pool, self.id, self.name) as tx:
            await tx.modseq()
            src = await self._message_row(tx.conn, msgid, lock=True)
            old = to_message(src, str(src[18]))
            flags = (old.flags | add_flags) - remove_flags
            keywords = (old.keywords | add_kw) - remove_kw
            if (flags, keywords) == (old.flags, old.keywords):
                # No change: the transaction rolls back, the modseq is not used.
                raise _NoChange(old)
            modseq = await tx.touch(col_int(src[17]), old.mailbox)
            await tx.conn.execute(
                "UPDATE message SET flags = %s, keywords = %s, modseq = %s WHERE id = %s",
                (_sorted(flags), _sorted(keywords), modseq, msgid),
            )
            delta = ("\\Seen" in old.flags) - ("\\Seen" in flags)
            if delta:
                await tx.conn.execute(
                    "UPDATE mailbox SET unseen = unseen + %s WHERE id = %s", (delta, src[17])
                )

    async def store_flags(
        self,
        mailbox: str,
        uids: Iterable[int],
        flags: Iterable[str],
        mode: str,
        *,
        unchangedsince: int | None = None,
    ) -> FlagsStored:
        """One transaction and one modseq for a whole STORE; unchanged messages
        are not written, those changed after *unchangedsince* are left alone and
        reported (RFC 7162 §3.1.3). UIDs not in the mailbox are ignored."""
        if mode not in FLAG_MODES:
            raise StoreError(f"store_flags: mode must be one of {FLAG_MODES}, not {mode!r}")
        system, keywords = split_flags(flags)
        wanted = sorted(set(uids))
        if not wanted:
            return FlagsStored([], [])
        mailbox = normalize_mailbox(mailbox)
        out: list[FlagState] = []
        modified: list[int] = []
        pending: list[FlagState] = []
        unseen = 0
        try:
            async with change_tx(self.pool, self.id, self.name) as tx:
                await tx.modseq()  # the account's lock before reading the flags
                box = await self._mailbox_row(tx.conn, mailbox)
                mailbox_id = col_int(box[1])
                cur = await tx.conn.execute(
                    "SELECT id, uid, flags, keywords, modseq FROM message "
                    "WHERE mailbox_id = %s AND uid = ANY(%s) ORDER BY uid",
                    (mailbox_id, wanted),
                )
                for row in await cur.fetchall():
                    msgid, uid, old_modseq = col_int(row[0]), col_int(row[1]), col_int(row[4])
                    old = col_names(row[2])
                    old_kw = col_names(row[3])
                    if unchangedsince is not None and old_modseq > unchangedsince:
                        modified.append(uid)
                        continue
                    if mode == "add":
                        new, new_kw = old | system, old_kw | keywords
                    elif mode == "remove":
                        new, new_kw = old - system, old_kw - keywords
                    else:
                        new, new_kw = system, keywords
                    if new == old and new_kw == old_kw:
                        out.append(FlagState(msgid, uid, old, old_kw, old_modseq))
                        continue
                    unseen += ("\\Seen" in old) - ("\\Seen" in new)
                    pending.append(FlagState(msgid, uid, new, new_kw, 0))
                if not pending:
                    raise _NoChange(None)
                modseq = await tx.touch(mailbox_id, mailbox)
                wcur = tx.conn.cursor()
                await wcur.executemany(
                    "UPDATE message SET flags = %s, keywords = %s, modseq = %s WHERE id = %s",
                    [(_sorted(f.flags), _sorted(f.keywords), modseq, f.msgid) for f in pending],
                )
                if unseen:
                    await tx.conn.execute(
                        "UPDATE mailbox SET unseen = unseen + %s WHERE id = %s",
                        (unseen, mailbox_id),
                    )
        except _NoChange:
            out.sort(key=lambda m: m.uid)
            return FlagsStored(out, modified, 0)
        out.extend(FlagState(f.msgid, f.uid, f.flags, f.keywords, modseq) for f in pending)
        out.sort(key=lambda m: m.uid)
        return FlagsStored(out, modified, modseq)


class _NoChange(Exception):
    """Leaves a change transaction without writing (rolled back, no modseq used)."""

    def __init__(self, message: Message | None) -> None:
        super().__init__("no change")
        self.message = message


async def _drop_unused_bodies(conn: Conn, digests: list[bytes]) -> None:
    """Delete the bodies in *digests* that no message names any more. A delivery
    of the same content at the same moment locks the body row first; if it
    commits a reference meanwhile, the foreign key refuses and the body stays."""
    if not digests:
        return
    try:
        async with conn.transaction():  # a savepoint
            await conn.execute(
                "DELETE FROM body d WHERE d.sha256 = ANY(%s) "
                "AND NOT EXISTS (SELECT 1 FROM message m WHERE m.body = d.sha256)",
                (list(set(digests)),),
            )
    except psycopg.errors.ForeignKeyViolation:
        log.debug("body still in use, kept", extra={"bodies": len(digests)})


def _structure(data: bytes, account: str) -> bytes | None:
    """The stored MIME structure; None (computed on first IMAP use) when it cannot be."""
    try:
        return mimestructure.dump(mimestructure.structure_of(data))
    except Exception as exc:
        log.warning("MIME structure not stored", extra={"account": account, "err": repr(exc)})
        return None
