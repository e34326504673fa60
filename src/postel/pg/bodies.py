"""Message bodies in PostgreSQL: one row per content, addressed by SHA-256."""

from __future__ import annotations

import logging

import psycopg

from postel.pg.pool import Conn
from postel.pg.rows import col_bytes

log = logging.getLogger("postel.pg")


async def store_body(conn: Conn, digest: bytes, data: bytes, *, inline: bool = True) -> None:
    """Keep *data*, whose SHA-256 is *digest*, once per content in *conn*'s
    transaction; with *inline* false, only its row (data NULL: the content is
    in the object store, put there before).

    The upsert locks the body's row, so a removal of the last message naming the
    same content at the same moment cannot drop it under this delivery."""
    await conn.execute(
        "INSERT INTO body (sha256, size, data) VALUES (%s, %s, %s) "
        "ON CONFLICT (sha256) DO UPDATE SET size = excluded.size, touched = now()",
        (digest, len(data), data if inline else None),
    )


def left_in_object_store(digests: list[bytes]) -> None:
    """The objects of bodies whose rows a removal deleted stay in the object
    store: deleting one could race a delivery of the same content that PUT it
    again just before (its row committed after our check, its object then
    gone). The sweep deletes it later, telling a fresh PUT from a leftover
    by the delivery's record (postel.pg.objectsweep)."""
    if digests:
        log.debug("body objects left in the object store", extra={"bodies": len(digests)})


async def drop_unused_bodies(conn: Conn, digests: list[bytes]) -> list[bytes]:
    """Delete the bodies in *digests* that no message names any more; the
    deleted ones whose content is in the object store (left there:
    left_in_object_store). A delivery
    of the same content at the same moment locks the body row first; if it
    commits a reference meanwhile, the foreign key refuses and the body stays.
    Rows are locked in hash order (two accounts deleting the same bodies do not
    deadlock); should PostgreSQL still report a deadlock, the bodies are kept
    rather than failing the removal, and removed later by the sweep of body
    rows no message names (postel.pg.bodysweep)."""
    if not digests:
        return []
    try:
        async with conn.transaction():  # a savepoint
            cur = await conn.execute(
                "DELETE FROM body d WHERE d.sha256 IN (SELECT sha256 FROM body "
                "WHERE sha256 = ANY(%s) ORDER BY sha256 FOR UPDATE) "
                "AND NOT EXISTS (SELECT 1 FROM message m WHERE m.body = d.sha256) "
                "RETURNING d.sha256, d.data IS NULL",
                (sorted(set(digests)),),
            )
            rows = await cur.fetchall()
    except (psycopg.errors.ForeignKeyViolation, psycopg.errors.DeadlockDetected) as exc:
        log.debug("bodies kept", extra={"bodies": len(digests), "reason": type(exc).__name__})
        return []
    return [col_bytes(r[0]) for r in rows if r[1]]
