"""Account quotas on the PostgreSQL store (domains.toml ``quota``, bytes), as
the SQLite store enforces them (postel.store.placing): an account's usage is
the sum of its mailboxes' sizes, read in one query, and a change adding mail
beyond the quota fails with OverQuota inside its transaction."""

from __future__ import annotations

from collections.abc import Sequence

from postel.pg.changetx import ChangeTx
from postel.pg.pool import Conn
from postel.pg.rows import col_int
from postel.store.errors import OverQuota


async def usages(conn: Conn, names: Sequence[str]) -> dict[str, int]:
    """Bytes used by each of the accounts *names* (0 for one not in the database)."""
    cur = await conn.execute(
        "SELECT a.name, coalesce(sum(b.size), 0)::bigint FROM account a "
        "LEFT JOIN mailbox b ON b.account_id = a.id WHERE a.name = ANY(%s) GROUP BY a.name",
        (list(names),),
    )
    found = {str(r[0]): col_int(r[1]) for r in await cur.fetchall()}
    return {name: found.get(name, 0) for name in names}


async def check_room(tx: ChangeTx, quota: int, size: int) -> None:
    """OverQuota unless *size* more bytes fit in the account of *tx* (0: no
    quota). Call it after ``tx.modseq()``: with the account's row locked, every
    writer of the account waits, and the sum read by this next statement (its
    own snapshot, in READ COMMITTED) counts every commit before ours, so two
    deliveries through two nodes cannot both take the last room."""
    if not quota:
        return
    cur = await tx.conn.execute(
        "SELECT coalesce(sum(size), 0)::bigint FROM mailbox WHERE account_id = %s",
        (tx.account_id,),
    )
    row = await cur.fetchone()
    used = col_int(row[0]) if row is not None else 0
    if used + size > quota:
        raise OverQuota(tx.account, used, quota, size)
