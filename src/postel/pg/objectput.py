"""Putting a body into the object store so that the sweep never deletes it
under a delivery (postel.pg.objectsweep).

Before the PUT, the delivery records the body's SHA-256 and the time in
``body_put`` (its own short transaction). The sweep deletes an object only
while it holds that record's row lock, and never when the record is younger
than its grace period, so a delivery between its PUT and its commit keeps its
object; a delivery that records after the sweep waits for the sweep's commit
and then PUTs the object again.
"""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool

from postel.pg.objectstore import ObjectStore
from postel.pg.pool import Conn


async def announce_put(pool: AsyncConnectionPool[Conn], digest: bytes) -> None:
    """Record that the body *digest* is being put now (waits while a sweep
    deciding about the same object holds the record)."""
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO body_put (sha256, since) VALUES (%s, now()) "
            "ON CONFLICT (sha256) DO UPDATE SET since = excluded.since",
            (digest,),
        )


async def put_body(
    pool: AsyncConnectionPool[Conn], objects: ObjectStore, digest: bytes, data: bytes
) -> None:
    """Record, then PUT *data* (whose SHA-256 is *digest*) into *objects*."""
    await announce_put(pool, digest)
    await objects.aput(digest, data)
