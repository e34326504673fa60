"""Reading an account's mailboxes and messages in PostgreSQL (part of PgAccount)."""

from __future__ import annotations

from array import array
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from psycopg_pool import AsyncConnectionPool

from postel.pg.pool import Conn
from postel.pg.rows import (
    MAILBOX_COLUMNS,
    MESSAGE_COLUMNS,
    Row,
    col_bytes,
    col_int,
    mailbox_order,
    to_mailbox,
    to_message,
)
from postel.store.changes import VANISHED_KEEP, MailboxChanges
from postel.store.errors import MailboxNotFound, MessageNotFound, StoreError
from postel.store.message import MailboxInfo, Message
from postel.store.names import normalize_mailbox

if TYPE_CHECKING:
    from postel.pg.objectstore import ObjectStore


def _no_quota() -> int:
    return 0


class Reading:
    """The account's identity and everything that only reads."""

    def __init__(
        self,
        pool: AsyncConnectionPool[Conn],
        name: str,
        account_id: int,
        objects: ObjectStore | None = None,
    ) -> None:
        self.pool = pool
        self.name = name
        self.id = account_id
        self.objects = objects  # where new bodies go and data-NULL bodies are read
        # The account's quota in bytes, 0 for none (domains.toml ``quota``),
        # checked by every change that adds mail (postel.pg.quota).
        self.quota: Callable[[], int] = _no_quota
        # Removed UIDs kept per mailbox for VANISHED (EARLIER), as on SQLite
        # (postel.store.changes).
        self.vanished_keep = VANISHED_KEEP

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

    async def changes_since(
        self, mailbox: str, modseq: int, *, limit: int | None = None
    ) -> MailboxChanges:
        """Messages changed after *modseq* and UIDs removed after it, read in one
        snapshot (RFC 7162 §3.2.5, §3.2.10); *limit*: at most that many changed
        messages, those with the highest UIDs."""
        mailbox = normalize_mailbox(mailbox)
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            box = await self._mailbox_row(conn, mailbox)
            cur = await conn.execute(
                f"SELECT {MESSAGE_COLUMNS} FROM message m WHERE m.mailbox_id = %s "
                "AND m.modseq > %s ORDER BY m.uid DESC LIMIT %s",
                (box[1], modseq, limit),
            )
            rows = list(reversed(await cur.fetchall()))
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
            # Removals at or below the floor were trimmed before a copy from
            # the SQLite store (postel.pg.copystore): not all of them listed.
            vanished_complete=modseq >= col_int(box[9]),
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

    async def body_digest(self, msgid: int) -> tuple[bytes, int]:
        """The SHA-256 and size of a message's body (the key of a node's copy
        of it, and a check of that copy), without reading the content."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT m.body, m.size FROM message m JOIN mailbox b ON b.id = m.mailbox_id "
                "WHERE m.id = %s AND b.account_id = %s",
                (msgid, self.id),
            )
            row = await cur.fetchone()
        if row is None:
            raise MessageNotFound(f"account {self.name!r}: no message with id {msgid}")
        return col_bytes(row[0]), col_int(row[1])

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
        if row[1] is None and self.objects is not None:
            digest = col_bytes(row[0])
            return digest, await self.objects.aget(digest)
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

    async def heads(self, msgids: Sequence[int]) -> dict[int, bytes]:
        """The stored common header fields (mimestructure.head_of) by msgid."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT m.id, m.head FROM message m JOIN mailbox b ON b.id = m.mailbox_id "
                "WHERE m.id = ANY(%s) AND b.account_id = %s AND m.head IS NOT NULL",
                (list(msgids), self.id),
            )
            rows = await cur.fetchall()
        return {col_int(r[0]): col_bytes(r[1]) for r in rows}

    async def keep_structures(self, structures: Mapping[int, tuple[bytes, bytes]]) -> None:
        """Structures and header fields computed after delivery. Not a change
        clients see (bodies never change, nor their structure)."""
        if not structures:
            return
        async with self.pool.connection() as conn, conn.transaction():
            cur = conn.cursor()
            await cur.executemany(
                "UPDATE message m SET mime = %s, head = %s FROM mailbox b "
                "WHERE m.id = %s AND b.id = m.mailbox_id AND b.account_id = %s",
                [(blob, head, msgid, self.id) for msgid, (blob, head) in structures.items()],
            )

    async def answers(self, msgids: Sequence[int]) -> dict[int, dict[str, bytes]]:
        """Answers kept by :meth:`keep_answers`, by msgid and item."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT a.message_id, a.item, a.value FROM message_answer a "
                "JOIN message m ON m.id = a.message_id JOIN mailbox b ON b.id = m.mailbox_id "
                "WHERE a.message_id = ANY(%s) AND b.account_id = %s",
                (list(msgids), self.id),
            )
            rows = await cur.fetchall()
        out: dict[int, dict[str, bytes]] = {}
        for r in rows:
            out.setdefault(col_int(r[0]), {})[str(r[1])] = col_bytes(r[2])
        return out

    async def keep_answers(self, answers: Mapping[int, Mapping[str, bytes]]) -> None:
        """Keep answers derived from the bodies (ENVELOPE, BODYSTRUCTURE); a
        message removed meanwhile keeps none."""
        rows = [
            (msgid, item, value)
            for msgid, items in answers.items()
            for item, value in items.items()
        ]
        if not rows:
            return
        async with self.pool.connection() as conn, conn.transaction():
            cur = conn.cursor()
            await cur.executemany(
                "INSERT INTO message_answer (message_id, item, value) "
                "SELECT m.id, %s, %s FROM message m JOIN mailbox b ON b.id = m.mailbox_id "
                "WHERE m.id = %s AND b.account_id = %s "
                "ON CONFLICT (message_id, item) DO UPDATE SET value = excluded.value",
                [(item, value, msgid, self.id) for msgid, item, value in rows],
            )

    async def usage(self) -> int:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT coalesce(sum(size), 0)::bigint FROM mailbox WHERE account_id = %s",
                (self.id,),
            )
            row = await cur.fetchone()
        return col_int(row[0]) if row is not None else 0
