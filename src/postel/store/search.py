"""Full-text search of one account's messages: the SQL over message_fts (FTS5).

message_fts (schema.py, migration 2) has one row per message, rowid = message.id,
filled at delivery and removed by a trigger with the message. Results come
newest first (highest id first): FTS5 yields rowids in descending order
itself, so a search stops after one page whatever the number of matches.
"""

from __future__ import annotations

from postel.store.schema import MESSAGE_COLUMNS
from postel.store.searchquery import Query

FTS_TABLE = "message_fts"


def fts_row(subject: str, from_: str, to: str, cc: str, body: str) -> tuple[str, str, str, str]:
    """The indexed columns (subject, sender, recipients, body) of one message."""
    return subject, from_, f"{to} {cc}".strip(), body


def search_sql(
    q: Query, *, mailbox_id: int | None, before_id: int | None, limit: int
) -> tuple[str, list[object]]:
    """SELECT of one page of matches (MESSAGE_COLUMNS, then the mailbox name),
    newest first; *before_id*: only messages with a smaller id (the next page)."""
    params: list[object] = []
    where: list[str] = []
    match = q.match()
    if match:
        source = f"{FTS_TABLE} f JOIN message m ON m.id = f.rowid"
        where.append(f"{FTS_TABLE} MATCH ?")
        params.append(match)
        order = "f.rowid"
    else:
        source = "message m"
        order = "m.id"
    if before_id is not None:
        where.append(f"{order} < ?")
        params.append(before_id)
    if mailbox_id is not None:
        where.append("m.mailbox_id = ?")
        params.append(mailbox_id)
    if q.has_attachment:
        where.append("m.has_attachments = 1")
    # Dates are stored as ISO 8601 in UTC, so they compare as text.
    if q.before is not None:
        where.append("COALESCE(m.date, m.received) < ?")
        params.append(q.before.isoformat())
    if q.after is not None:
        where.append("COALESCE(m.date, m.received) >= ?")
        params.append(q.after.isoformat())
    exclude = q.exclude()
    if exclude and not match:  # with a match, its NOT excludes (Query.match)
        where.append(f"m.id NOT IN (SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH ?)")
        params.append(exclude)
    sql = (
        f"SELECT {MESSAGE_COLUMNS}, b.name AS mailbox_name FROM {source} "
        "JOIN mailbox b ON b.id = m.mailbox_id"
        + (" WHERE " + " AND ".join(where) if where else "")
        + f" ORDER BY {order} DESC LIMIT ?"
    )
    params.append(limit)
    return sql, params
