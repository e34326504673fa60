"""What the webmail reads of an account in PostgreSQL (part of PgAccount): pages
of a mailbox, threads (keys given at delivery, postel.pg.threading) and
full-text search (postel.pg.fulltext), with the SQLite store's orders and
paging (postel.store.messages)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time

import psycopg

from postel.pg import fulltext
from postel.pg.pool import Conn
from postel.pg.reading import Reading
from postel.pg.rows import MESSAGE_COLUMNS, Row, col_int, to_message
from postel.store.errors import StoreError
from postel.store.message import Message, ThreadSummary
from postel.store.names import normalize_mailbox
from postel.store.searchquery import BadQuery, parse_query

MAX_PAGE = 10_000  # as the SQLite store
MAX_SUMMARIES = 200
UNSEEN = "NOT ('\\Seen' = ANY(flags))"


def _page_check(limit: int, offset: int = 0) -> None:
    if offset < 0 or not 0 <= limit <= MAX_PAGE:
        raise StoreError(f"offset must be >= 0 and limit 0..{MAX_PAGE}")


def _order(newest_first: bool, cursor: bool) -> tuple[str, str]:
    """(condition on the cursor UID or "", ORDER BY direction)."""
    if not cursor:
        return "", "DESC" if newest_first else "ASC"
    return (" AND m.uid < %s", "DESC") if newest_first else (" AND m.uid > %s", "ASC")


def _day(day: date) -> datetime:
    """A search's day as the instant it starts in UTC."""
    return datetime.combine(day, time(), tzinfo=UTC)


class Listing(Reading):
    """Pages, threads and search of one account."""

    async def _mailbox_id(self, conn: Conn, mailbox: str) -> int:
        return col_int((await self._mailbox_row(conn, normalize_mailbox(mailbox)))[1])

    async def list_messages(
        self,
        mailbox: str,
        *,
        offset: int = 0,
        limit: int = 50,
        newest_first: bool = True,
        cursor: int | None = None,
    ) -> list[Message]:
        """One page of a mailbox in UID order; *cursor*: the last UID of the page before."""
        _page_check(limit, offset)
        mailbox = normalize_mailbox(mailbox)
        where, order = _order(newest_first, cursor is not None)
        async with self.pool.connection() as conn:
            params: list[object] = [await self._mailbox_id(conn, mailbox)]
            params += [cursor] if cursor is not None else []
            cur = await conn.execute(
                f"SELECT {MESSAGE_COLUMNS} FROM message m WHERE m.mailbox_id = %s{where} "
                f"ORDER BY m.uid {order} LIMIT %s OFFSET %s",
                [*params, limit, offset],
            )
            rows = await cur.fetchall()
        return [to_message(r, mailbox) for r in rows]

    async def list_threads(
        self,
        mailbox: str,
        *,
        limit: int = 50,
        newest_first: bool = True,
        cursor: int | None = None,
    ) -> list[ThreadSummary]:
        """One page of the mailbox's threads, each as its newest message there,
        in that message's UID order."""
        _page_check(limit)
        mailbox = normalize_mailbox(mailbox)
        where, order = _order(newest_first, cursor is not None)
        async with self.pool.connection() as conn:
            mailbox_id = await self._mailbox_id(conn, mailbox)
            params: list[object] = [mailbox_id, *([cursor] if cursor is not None else [])]
            cur = await conn.execute(
                f"SELECT {MESSAGE_COLUMNS} FROM message m WHERE m.mailbox_id = %s{where} "
                "AND NOT EXISTS (SELECT 1 FROM message x WHERE x.thread_id = m.thread_id "
                "AND x.mailbox_id = m.mailbox_id AND x.uid > m.uid) "
                f"ORDER BY m.uid {order} LIMIT %s",
                [*params, limit],
            )
            rows = await cur.fetchall()
            return await self._summaries(conn, rows, mailbox, mailbox_id)

    async def thread_summaries(self, mailbox: str, keys: Iterable[int]) -> list[ThreadSummary]:
        """The threads *keys* as list_threads shows them in *mailbox*, newest
        first; a key with no message there is left out."""
        wanted = list(dict.fromkeys(keys))
        if len(wanted) > MAX_SUMMARIES:
            raise StoreError(f"at most {MAX_SUMMARIES} thread keys at once")
        mailbox = normalize_mailbox(mailbox)
        async with self.pool.connection() as conn:
            mailbox_id = await self._mailbox_id(conn, mailbox)
            cur = await conn.execute(
                f"SELECT DISTINCT ON (m.thread_id) {MESSAGE_COLUMNS} FROM message m "
                "WHERE m.thread_id = ANY(%s) AND m.mailbox_id = %s "
                "ORDER BY m.thread_id, m.uid DESC",
                (wanted, mailbox_id),
            )
            rows = sorted(await cur.fetchall(), key=lambda r: col_int(r[1]), reverse=True)
            return await self._summaries(conn, rows, mailbox, mailbox_id)

    async def _summaries(
        self, conn: Conn, rows: Sequence[Row], mailbox: str, mailbox_id: int
    ) -> list[ThreadSummary]:
        """Thread heads *rows* with their threads' counts in the mailbox."""
        heads = [to_message(r, mailbox) for r in rows]
        keys = list({m.thread for m in heads})
        counts: dict[int, tuple[int, int]] = {}
        if keys:
            cur = await conn.execute(
                f"SELECT thread_id, count(*), count(*) FILTER (WHERE {UNSEEN}) FROM message "
                "WHERE thread_id = ANY(%s) AND mailbox_id = %s GROUP BY thread_id",
                (keys, mailbox_id),
            )
            for key, n, unseen in await cur.fetchall():
                counts[col_int(key)] = (col_int(n), col_int(unseen))
        return [ThreadSummary(m, *counts.get(m.thread, (1, 0))) for m in heads]

    async def thread_messages(
        self, thread: int, *, mailbox: str | None = None, limit: int = 500
    ) -> list[Message]:
        """The messages of a thread, oldest first (in *mailbox* only when given)."""
        _page_check(limit)
        async with self.pool.connection() as conn:
            sql = (
                f"SELECT {MESSAGE_COLUMNS}, b.name FROM message m "
                "JOIN mailbox b ON b.id = m.mailbox_id WHERE m.thread_id = %s "
                "AND b.account_id = %s"
            )
            params: list[object] = [thread, self.id]
            if mailbox is not None:
                sql += " AND m.mailbox_id = %s"
                params.append(await self._mailbox_id(conn, mailbox))
            cur = await conn.execute(sql + " ORDER BY m.id LIMIT %s", [*params, limit])
            rows = await cur.fetchall()
        return [to_message(r, str(r[17])) for r in rows]

    async def search(
        self,
        query: str,
        *,
        mailbox: str | None = None,
        before: int | None = None,
        limit: int = 50,
    ) -> list[Message]:
        """Messages matching *query* (postel.store.searchquery), newest first;
        in *mailbox* only when given; *before*: the last msgid of the page before."""
        _page_check(limit)
        q = parse_query(query)
        if q.empty:
            return []
        match = fulltext.query(self.id, q)
        if match == "":
            return []
        where = ["b.account_id = %s"]
        params: list[object] = [self.id]
        source = "message m"
        if match is not None:
            source = "message_text t JOIN message m ON m.id = t.message_id"
            where.append("t.fts @@ %s::tsquery")
            params.append(match)
        if before is not None:
            where.append("m.id < %s")
            params.append(before)
        if q.has_attachment:
            where.append("m.has_attachments")
        if q.before is not None:
            where.append("coalesce(m.date, m.received) < %s")
            params.append(_day(q.before))
        if q.after is not None:
            where.append("coalesce(m.date, m.received) >= %s")
            params.append(_day(q.after))
        async with self.pool.connection() as conn:
            if mailbox:
                where.append("m.mailbox_id = %s")
                params.append(await self._mailbox_id(conn, mailbox))
            try:
                cur = await conn.execute(
                    f"SELECT {MESSAGE_COLUMNS}, b.name FROM {source} "
                    "JOIN mailbox b ON b.id = m.mailbox_id WHERE "
                    + " AND ".join(where)
                    + " ORDER BY m.id DESC LIMIT %s",
                    [*params, limit],
                )
            except psycopg.DataError as exc:  # a tsquery it refuses
                raise BadQuery(f"search {query!r} in account {self.name!r}: {exc}") from None
            rows = await cur.fetchall()
        return [to_message(r, str(r[17])) for r in rows]
