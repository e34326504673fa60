"""The sweep of body rows no message names.

A removal deletes the bodies its messages named in its own transaction
(postel.pg.bodies), but keeps them when PostgreSQL reports a deadlock or a
foreign key refuses; a delivery whose mailbox went while it waited keeps
its body row too (postel.pg.newmessage). This sweep removes such rows
later. It walks the ``body`` table in SHA-256 order a page at a time and,
for each page, in one transaction:

1. locks the rows that no message names and that no delivery wrote within
   the grace period (``touched``), skipping rows locked by someone else
   (``FOR UPDATE SKIP LOCKED``);
2. deletes those that still no message names, in a statement of its own
   whose snapshot is taken after the locks are held.

A delivery writes its body row (insert, or an upsert that locks the row and
sets ``touched``) and its message in one transaction. So a delivery of the
same content either holds the row lock first (the sweep skips the row), or
has committed its message before step 2 (which sees it), or waits for the
sweep's commit and then inserts the row again. A message row never names a
missing body. The objects of rows removed here (``data`` NULL) stay in the
object store for its own sweep (postel.pg.objectsweep), as after a removal.

One node sweeps at a time (the session advisory lock BODY_SWEEP_LOCK,
postel.pg.migrate).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

from psycopg_pool import AsyncConnectionPool

from postel.pg.migrate import BODY_SWEEP_LOCK
from postel.pg.pool import Conn, open_pool, try_session_lock
from postel.pg.rows import col_bytes
from postel.pg.settings import PgSettings

log = logging.getLogger("postel.pg")

PAGE_ROWS = 1000  # body rows looked at per transaction


@dataclass
class BodySweepReport:
    """What one run found: rows looked at, removed (with dry_run: to remove)
    and, of those, the ones whose content is in the object store; where the
    next run goes on (None: the table ended, the next run starts over)."""

    looked: int = 0
    removed: list[bytes] = field(default_factory=list)
    in_objects: list[bytes] = field(default_factory=list)
    pages: int = 0
    next_after: bytes | None = None


async def lock_unnamed(conn: Conn, digests: list[bytes], grace: float) -> list[bytes]:
    """Lock, in *conn*'s transaction, the rows of *digests* that no message
    names and no delivery wrote within *grace* seconds; rows locked by
    another transaction (a delivery of the same content) are skipped."""
    cur = await conn.execute(
        "SELECT b.sha256 FROM body b WHERE b.sha256 = ANY(%s) "
        "AND b.touched <= now() - make_interval(secs => %s) "
        "AND NOT EXISTS (SELECT 1 FROM message m WHERE m.body = b.sha256) "
        "ORDER BY b.sha256 FOR UPDATE SKIP LOCKED",
        (digests, grace),
    )
    return [col_bytes(r[0]) for r in await cur.fetchall()]


async def delete_locked(conn: Conn, locked: list[bytes]) -> list[tuple[bytes, bool]]:
    """Delete the rows of *locked* (locked by lock_unnamed in this
    transaction) that still no message names: (SHA-256, content in the
    object store) of each. A new statement, so its snapshot includes every
    delivery that committed before the locks were taken."""
    if not locked:
        return []
    cur = await conn.execute(
        "DELETE FROM body b WHERE b.sha256 = ANY(%s) "
        "AND NOT EXISTS (SELECT 1 FROM message m WHERE m.body = b.sha256) "
        "RETURNING b.sha256, b.data IS NULL",
        (locked,),
    )
    return [(col_bytes(r[0]), bool(r[1])) for r in await cur.fetchall()]


async def sweep_bodies(
    pool: AsyncConnectionPool[Conn],
    *,
    grace: float,
    pages: int = 0,
    after: bytes | None = None,
    dry_run: bool = False,
    page_rows: int = PAGE_ROWS,
) -> BodySweepReport:
    """Sweep up to *pages* pages (0: to the end) of body rows after *after*.
    *dry_run*: remove nothing, report what would go. The caller holds
    BODY_SWEEP_LOCK (run_body_sweep)."""
    report = BodySweepReport()
    while True:
        async with pool.connection() as conn, conn.transaction(force_rollback=dry_run):
            cur = await conn.execute(
                "SELECT sha256 FROM body WHERE %s::bytea IS NULL OR sha256 > %s::bytea "
                "ORDER BY sha256 LIMIT %s",
                (after, after, page_rows),
            )
            page = [col_bytes(r[0]) for r in await cur.fetchall()]
            gone = await delete_locked(conn, await lock_unnamed(conn, page, grace))
        report.pages += 1
        report.looked += len(page)
        report.removed.extend(d for d, _ in gone)
        report.in_objects.extend(d for d, in_objects in gone if in_objects)
        after = page[-1] if len(page) == page_rows else None
        if after is None or (pages and report.pages >= pages):
            break
    report.next_after = after
    return report


async def run_body_sweep(
    pool: AsyncConnectionPool[Conn],
    *,
    grace: float,
    pages: int = 0,
    after: bytes | None = None,
    dry_run: bool = False,
) -> BodySweepReport | None:
    """sweep_bodies under BODY_SWEEP_LOCK; None when another node sweeps."""
    async with try_session_lock(pool, BODY_SWEEP_LOCK) as held:
        if not held:
            log.debug("body row sweep: another node sweeps")
            return None
        report = await sweep_bodies(pool, grace=grace, pages=pages, after=after, dry_run=dry_run)
    log.info(
        "body row sweep done",
        extra={
            "looked": report.looked,
            "removed": len(report.removed),
            "in_objects": len(report.in_objects),
            "pages": report.pages,
            "dry_run": dry_run,
            "complete": report.next_after is None,
        },
    )
    return report


async def sweep_bodies_now(
    settings: PgSettings, *, grace: float, dry_run: bool
) -> BodySweepReport | None:
    """run_body_sweep over the whole table, on a small pool of its own
    (`postel sweep-objects`)."""
    pool = await open_pool(replace(settings, pool_min=1, pool_max=2))
    try:
        return await run_body_sweep(pool, grace=grace, dry_run=dry_run)
    finally:
        await pool.close()
