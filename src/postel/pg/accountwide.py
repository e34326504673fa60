"""An account as a whole in PostgreSQL (part of PgAccount): emptying a mailbox,
expunging, figures, the index's invariants and what deliveries saw of each
recipient domain (docs/delivery-policy.md, After the session)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from postel.pg.bodies import drop_unused_bodies, left_in_object_store
from postel.pg.changetx import change_tx
from postel.pg.reading import Reading
from postel.pg.rows import col_bytes, col_int
from postel.store.domainsecurity import normalize_domain
from postel.store.message import DomainSecurity, StoreStats
from postel.store.names import normalize_mailbox

_SEEN = "'\\Seen' = ANY(flags)"


class AccountWide(Reading):
    """Whole-mailbox removals, figures, checks and the domain security memory."""

    async def _remove_where(self, mailbox: str, condition: str) -> list[int]:
        """Remove the messages of *mailbox* matching *condition* in one change
        transaction; their ids in UID order."""
        mailbox = normalize_mailbox(mailbox)
        async with change_tx(self.pool, self.id, self.name) as tx:
            await tx.modseq()  # the account's lock first, as every writer
            box = await self._mailbox_row(tx.conn, mailbox, lock=True)
            mailbox_id = col_int(box[1])
            cur = await tx.conn.execute(
                f"DELETE FROM message WHERE mailbox_id = %s AND {condition} "
                f"RETURNING id, uid, size, {_SEEN}, body",
                (mailbox_id,),
            )
            rows = sorted(await cur.fetchall(), key=lambda r: col_int(r[1]))
            if not rows:
                return []
            await tx.removed(
                mailbox_id, mailbox, [col_int(r[1]) for r in rows], keep=self.vanished_keep
            )
            await tx.conn.execute(
                "UPDATE mailbox SET total = total - %s, unseen = unseen - %s, size = size - %s "
                "WHERE id = %s",
                (
                    len(rows),
                    sum(1 for r in rows if not r[3]),
                    sum(col_int(r[2]) for r in rows),
                    mailbox_id,
                ),
            )
            dropped = await drop_unused_bodies(tx.conn, [col_bytes(r[4]) for r in rows])
        left_in_object_store(dropped)
        return [col_int(r[0]) for r in rows]

    async def empty_mailbox(self, mailbox: str) -> int:
        """Remove every message of *mailbox*; it keeps its UIDVALIDITY."""
        return len(await self._remove_where(mailbox, "true"))

    async def expunge(self, mailbox: str) -> list[int]:
        """Remove the messages flagged \\Deleted in *mailbox*; their ids."""
        return await self._remove_where(mailbox, "'\\Deleted' = ANY(flags)")

    async def highest_modseq(self) -> int:
        async with self.pool.connection() as conn:
            cur = await conn.execute("SELECT modseq FROM account WHERE id = %s", (self.id,))
            row = await cur.fetchone()
        return col_int(row[0]) if row is not None else 0

    async def stats(self) -> StoreStats:
        """Messages, their bytes and mailboxes; index_bytes 0: the index is the
        shared database's, not the account's own."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT count(*), coalesce(sum(total), 0)::bigint, coalesce(sum(size), 0)::bigint "
                "FROM mailbox WHERE account_id = %s",
                (self.id,),
            )
            row = await cur.fetchone()
        assert row is not None
        return StoreStats(
            messages=col_int(row[1]),
            message_bytes=col_int(row[2]),
            index_bytes=0,
            mailboxes=col_int(row[0]),
        )

    async def check(self) -> list[str]:
        """The invariants the SQLite store checks (store/checks.py): UIDs below
        UIDNEXT, counters matching the messages, no modseq above its mailbox's
        HIGHESTMODSEQ (RFC 7162 §3.1.1) nor that above the account's."""
        where = f"account {self.name!r}"
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cur = await conn.execute(
                "SELECT m.id, m.uid, b.name, b.uidnext FROM message m "
                "JOIN mailbox b ON b.id = m.mailbox_id "
                "WHERE b.account_id = %s AND m.uid >= b.uidnext",
                (self.id,),
            )
            bad_uid = await cur.fetchall()
            cur = await conn.execute(
                "SELECT b.name, b.total, b.unseen, b.size, b.highestmodseq, a.modseq, "
                "count(m.id), count(m.id) FILTER (WHERE NOT ('\\Seen' = ANY(m.flags))), "
                "coalesce(sum(m.size), 0)::bigint, coalesce(max(m.modseq), 0), "
                "(SELECT coalesce(max(v.modseq), 0) FROM vanished v WHERE v.mailbox_id = b.id), "
                "b.vanished_rows, (SELECT count(*) FROM vanished v WHERE v.mailbox_id = b.id) "
                "FROM mailbox b JOIN account a ON a.id = b.account_id "
                "LEFT JOIN message m ON m.mailbox_id = b.id "
                "WHERE b.account_id = %s GROUP BY b.id, a.modseq",
                (self.id,),
            )
            boxes = await cur.fetchall()
        problems = [
            f"{where}: message {r[0]} in {r[2]!r} has uid {r[1]} >= uidnext {r[3]}" for r in bad_uid
        ]
        for (
            name, total, unseen, size, highest, counter, n, u, s, top_msg, top_gone, rows, kept
        ) in boxes:  # fmt: skip
            if col_int(rows) != col_int(kept):
                problems.append(
                    f"{where}: mailbox {name!r} counts {rows} removed UIDs but keeps {kept}"
                )
            if (total, unseen, size) != (n, u, s):
                problems.append(
                    f"{where}: mailbox {name!r} counters total/unseen/size "
                    f"{total}/{unseen}/{size} but messages say {n}/{u}/{s}"
                )
            top = max(col_int(top_msg), col_int(top_gone))
            if top > col_int(highest) or col_int(highest) > col_int(counter):
                problems.append(
                    f"{where}: mailbox {name!r} HIGHESTMODSEQ {highest} but its changes "
                    f"reach {top} and the account's modseq is {counter}"
                )
        return problems

    async def remember_domain_security(
        self, domain: str, starttls: bool | None, requiretls: bool | None
    ) -> None:
        """Record what a delivery to *domain* saw; None keeps the earlier value."""
        await self.remember_domain_securities([(domain, starttls, requiretls)])

    async def remember_domain_securities(
        self, findings: Iterable[tuple[str, bool | None, bool | None]]
    ) -> None:
        """Record (domain, starttls, requiretls) findings in one transaction."""
        now = datetime.now(UTC)
        rows = [
            (self.id, normalize_domain(domain), starttls, requiretls, now)
            for domain, starttls, requiretls in findings
        ]
        if not rows:
            return
        async with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO domain_security (account_id, domain, starttls, requiretls, "
                "updated) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (account_id, domain) "
                "DO UPDATE SET "
                "starttls = coalesce(excluded.starttls, domain_security.starttls), "
                "requiretls = coalesce(excluded.requiretls, domain_security.requiretls), "
                "updated = excluded.updated",
                rows,
            )

    async def domain_security(self, domain: str) -> DomainSecurity:
        """What is known about *domain*; all None when nothing is."""
        domain = normalize_domain(domain)
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT starttls, requiretls, updated FROM domain_security "
                "WHERE account_id = %s AND domain = %s",
                (self.id, domain),
            )
            row = await cur.fetchone()
        if row is None:
            return DomainSecurity(domain, None, None, None)
        updated = row[2]
        return DomainSecurity(
            domain=domain,
            starttls=None if row[0] is None else bool(row[0]),
            requiretls=None if row[1] is None else bool(row[1]),
            updated=updated.astimezone(UTC) if isinstance(updated, datetime) else None,
        )
