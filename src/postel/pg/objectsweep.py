"""The sweep of the object store: objects no body row names are deleted.

A removal deletes a body's row but leaves its object (postel.pg.bodies). The
sweep lists the bucket a page at a time and deletes, of each page, the objects

- older than the grace period (by the service's last-modified time),
- that no ``body`` row names,
- whose ``body_put`` record (postel.pg.objectput) is absent or older than the
  grace period,

deciding and deleting while it holds the row lock of each object's record (it
inserts one when there is none). A delivery records before its PUT, so:

- recorded before the sweep took the lock: the record is recent, and the
  object is kept (unless the delivery spent longer than the grace period
  between its record and its commit; deliveries' steps are bounded by
  timeouts far below it);
- recorded after: the record waits for the sweep's commit, and the PUT that
  follows writes the object again, before the delivery's row commits.

So a row never names a deleted object. One node sweeps at a time (the session
advisory lock OBJECT_SWEEP_LOCK, postel.pg.migrate).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from psycopg_pool import AsyncConnectionPool

from postel.pg.migrate import OBJECT_SWEEP_LOCK
from postel.pg.objectstore import ObjectStore
from postel.pg.pool import Conn, open_pool, try_session_lock
from postel.pg.rows import col_bytes
from postel.pg.settings import PgSettings

log = logging.getLogger("postel.pg")

PAGE_SIZE = 1000  # objects listed, and at most deleted, per request
FORGET_BATCH = 10000  # old body_put records removed per run


@dataclass
class SweepReport:
    """What one run found: objects listed, kept because a row names them or
    they are recent, and deleted (with dry_run: to delete); where the next
    run goes on (None: the listing ended, the next run starts over)."""

    listed: int = 0
    named: int = 0
    recent: int = 0
    deleted: list[bytes] = field(default_factory=list)
    pages: int = 0
    next_after: bytes | None = None
    forgotten: int = 0


async def sweep_objects(
    pool: AsyncConnectionPool[Conn],
    objects: ObjectStore,
    *,
    grace: float,
    pages: int = 0,
    after: bytes | None = None,
    dry_run: bool = False,
    page_size: int = PAGE_SIZE,
) -> SweepReport:
    """Sweep up to *pages* pages (0: to the end) of *objects* after *after*;
    objects and records younger than *grace* seconds are kept. *dry_run*:
    delete nothing, report what would go. The caller holds OBJECT_SWEEP_LOCK (run_sweep)."""
    report = SweepReport()
    while True:
        page = await asyncio.to_thread(objects.list_page, after, page_size)
        report.pages += 1
        report.listed += len(page.objects)
        cutoff = datetime.now(UTC) - timedelta(seconds=grace)
        old = sorted(d for d, modified in page.objects if modified <= cutoff)
        report.recent += len(page.objects) - len(old)
        if old:
            await _sweep_page(pool, objects, old, grace, dry_run, report)
        log.info(
            "object store sweep: page done",
            extra={
                "store": objects.where,
                "listed": len(page.objects),
                "deleted": len(report.deleted),
                "dry_run": dry_run,
            },
        )
        after = page.next_after
        if after is None or (pages and report.pages >= pages):
            break
    report.next_after = after
    if not dry_run:
        report.forgotten = await _forget_old_records(pool, grace)
    return report


async def _sweep_page(
    pool: AsyncConnectionPool[Conn],
    objects: ObjectStore,
    old: list[bytes],
    grace: float,
    dry_run: bool,
    report: SweepReport,
) -> None:
    async with pool.connection() as conn, conn.transaction(force_rollback=dry_run):
        # Lock each object's record (made when missing): a delivery recording
        # the same body now waits until this transaction ends.
        cur = await conn.execute(
            "INSERT INTO body_put (sha256, since) "
            "SELECT d, '-infinity' FROM unnest(%s::bytea[]) AS d ORDER BY d "
            "ON CONFLICT (sha256) DO UPDATE SET since = body_put.since "
            "RETURNING sha256, since > now() - make_interval(secs => %s)",
            (old, grace),
        )
        recent = {col_bytes(r[0]) for r in await cur.fetchall() if r[1]}
        cur = await conn.execute("SELECT sha256 FROM body WHERE sha256 = ANY(%s)", (old,))
        named = {col_bytes(r[0]) for r in await cur.fetchall()}
        doomed = [d for d in old if d not in named and d not in recent]
        report.named += len(named)
        report.recent += len(recent - named)
        if doomed and not dry_run:
            await asyncio.to_thread(objects.delete_many, doomed)
        report.deleted.extend(doomed)
        # Records older than the grace period protect nothing any more.
        await conn.execute(
            "DELETE FROM body_put WHERE sha256 = ANY(%s) "
            "AND since <= now() - make_interval(secs => %s)",
            (old, grace),
        )


async def _forget_old_records(pool: AsyncConnectionPool[Conn], grace: float) -> int:
    """Remove up to FORGET_BATCH records older than the grace period (those of
    deliveries that committed their row long ago)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "DELETE FROM body_put WHERE sha256 IN (SELECT sha256 FROM body_put "
            "WHERE since <= now() - make_interval(secs => %s) LIMIT %s)",
            (grace, FORGET_BATCH),
        )
        return cur.rowcount


async def run_sweep(
    pool: AsyncConnectionPool[Conn],
    objects: ObjectStore,
    *,
    grace: float,
    pages: int = 0,
    after: bytes | None = None,
    dry_run: bool = False,
) -> SweepReport | None:
    """sweep_objects under OBJECT_SWEEP_LOCK; None when another node sweeps."""
    async with try_session_lock(pool, OBJECT_SWEEP_LOCK) as held:
        if not held:
            log.debug("object store sweep: another node sweeps", extra={"store": objects.where})
            return None
        report = await sweep_objects(
            pool, objects, grace=grace, pages=pages, after=after, dry_run=dry_run
        )
    log.info(
        "object store sweep done",
        extra={
            "store": objects.where,
            "listed": report.listed,
            "named": report.named,
            "recent": report.recent,
            "deleted": len(report.deleted),
            "pages": report.pages,
            "dry_run": dry_run,
            "complete": report.next_after is None,
        },
    )
    return report


async def sweep_now(
    settings: PgSettings, objects: ObjectStore, *, grace: float, pages: int, dry_run: bool
) -> SweepReport | None:
    """run_sweep over a small pool of its own (`postel sweep-objects`)."""
    pool = await open_pool(replace(settings, pool_min=1, pool_max=2))
    try:
        return await run_sweep(pool, objects, grace=grace, pages=pages, dry_run=dry_run)
    finally:
        await pool.close()
