"""One write transaction on an account's mail in PostgreSQL: its modseq, the
mailboxes it touched, and their notifications (published inside it, so sent
by PostgreSQL at commit and never for a rolled-back change)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from psycopg_pool import AsyncConnectionPool

from postel.pg import notify
from postel.pg.pool import Conn
from postel.pg.rows import col_int
from postel.store.changes import VANISHED_KEEP

# Removed UIDs recorded: a UID already listed (never reused, but recorded
# again by a copy from SQLite) only moves its modseq; the mailbox counts the
# rows it lists (vanished_rows) and returns the count.
_RECORD = """
WITH ins AS (
    INSERT INTO vanished (mailbox_id, uid, modseq)
    SELECT %(id)s, u, %(modseq)s FROM unnest(%(uids)s) u
    ON CONFLICT (mailbox_id, uid) DO UPDATE SET modseq = excluded.modseq
    RETURNING (xmax = 0) AS new
)
UPDATE mailbox SET vanished_rows = vanished_rows + (SELECT count(*) FROM ins WHERE new)
WHERE id = %(id)s RETURNING vanished_rows
"""

# Past a tenth more than *keep* removed UIDs in a mailbox, those older than the
# newest *keep* are dropped, whole modseqs at a time so that the list stays
# complete above the mailbox's vanished_floor, which records the highest modseq
# dropped: below it VANISHED (EARLIER) answers a superset (RFC 7162 §3.2.5.2).
_TRIM = """
WITH f AS (
    SELECT modseq FROM vanished WHERE mailbox_id = %(id)s
    ORDER BY modseq DESC OFFSET %(keep)s LIMIT 1
), d AS (
    DELETE FROM vanished v USING f WHERE v.mailbox_id = %(id)s AND v.modseq <= f.modseq
    RETURNING 1
)
UPDATE mailbox SET vanished_floor = greatest(vanished_floor, f.modseq),
    vanished_rows = vanished_rows - (SELECT count(*) FROM d)
FROM f WHERE mailbox.id = %(id)s
"""


class ChangeTx:
    """The bookkeeping of one open transaction of one account."""

    __slots__ = ("_modseq", "account", "account_id", "conn", "touched")

    def __init__(self, conn: Conn, account_id: int, account: str) -> None:
        self.conn = conn
        self.account_id = account_id
        self.account = account
        self._modseq = 0
        self.touched: dict[int, str] = {}  # mailbox id -> name

    async def modseq(self) -> int:
        """This transaction's modseq, taken on first use (RFC 7162 §3.1.1).

        The UPDATE locks the account's row until commit, so the account's
        writers are serialized and modseqs become visible in increasing order."""
        if not self._modseq:
            cur = await self.conn.execute(
                "UPDATE account SET modseq = modseq + 1 WHERE id = %s RETURNING modseq",
                (self.account_id,),
            )
            row = await cur.fetchone()
            assert row is not None
            self._modseq = col_int(row[0])
        return self._modseq

    async def touch(self, mailbox_id: int, name: str) -> int:
        """Raise the mailbox's HIGHESTMODSEQ to this transaction's modseq."""
        modseq = await self.modseq()
        await self.conn.execute(
            "UPDATE mailbox SET highestmodseq = %s WHERE id = %s", (modseq, mailbox_id)
        )
        self.touched[mailbox_id] = name
        return modseq

    async def removed(
        self, mailbox_id: int, name: str, uids: list[int], *, keep: int = VANISHED_KEEP
    ) -> None:
        """Messages left the mailbox: their UIDs are remembered as vanished,
        and the oldest dropped once the mailbox keeps more than a tenth over
        *keep* (as the SQLite store does, postel.store.changes)."""
        modseq = await self.touch(mailbox_id, name)
        cur = await self.conn.execute(_RECORD, {"id": mailbox_id, "modseq": modseq, "uids": uids})
        row = await cur.fetchone()
        if row is not None and col_int(row[0]) > keep + max(1, keep // 10):
            await self.conn.execute(_TRIM, {"id": mailbox_id, "keep": keep})

    async def publish(self) -> None:
        if not self._modseq:
            return
        for name in sorted(set(self.touched.values())):
            await notify.publish(self.conn, notify.MailboxChanged(self.account, name, self._modseq))


@asynccontextmanager
async def change_tx(
    pool: AsyncConnectionPool[Conn], account_id: int, account: str
) -> AsyncIterator[ChangeTx]:
    """A transaction on a pooled connection; notifications queued before commit."""
    async with pool.connection() as conn, conn.transaction():
        tx = ChangeTx(conn, account_id, account)
        yield tx
        await tx.publish()
