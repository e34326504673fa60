"""Daily refresh of cached policies (RFC 8461 §5.1 "proactive refresh", docs/mta-sts.md).

Each stale row is claimed before its refresh (PolicyCache.claim_refresh): on
the cache the nodes share in PostgreSQL, one node refreshes a policy and the
others skip it; a data directory's own cache always grants the claim."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from postel.dns import Resolver
from postel.mtasts.errors import MTASTSError, NoRecord
from postel.mtasts.lookup import lookup_record
from postel.mtasts.policy import Mode
from postel.mtastsdb.cache import Fetcher, PolicyCache, utcnow

_log = logging.getLogger("postel.mtastsdb")

UNUSED_LIMIT = dt.timedelta(days=180)  # delete rows unused for this long
REFRESH_AGE = dt.timedelta(hours=12)  # refresh rows not updated for this long
INTERVAL = dt.timedelta(days=1)
SPREAD = dt.timedelta(hours=4)  # refreshes of one run are spread over at most this
MAX_GAP = dt.timedelta(minutes=30)  # at most this between two refreshes

Sleeper = Callable[[float], Awaitable[bool]]  # sleep(seconds) -> True when stopping


@dataclass
class RefreshStats:
    deleted_unused: list[str] = field(default_factory=list)
    deleted_gone: list[str] = field(default_factory=list)
    refreshed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


async def refresh_once(
    db: PolicyCache,
    resolver: Resolver,
    *,
    now: dt.datetime | None = None,
    fetch: Fetcher | None = None,
    sleep: Sleeper | None = None,
    spread: dt.timedelta = SPREAD,
) -> RefreshStats:
    """One refresher run: delete unused rows, refresh stale ones with jitter."""
    now = now or utcnow()
    fetch = fetch or db.fetch
    stats = RefreshStats()
    for row in await db.run(db.rows):
        if row.last_use < now - UNUSED_LIMIT:
            await db.run(db.delete, row.domain)
            stats.deleted_unused.append(row.domain)
    stale_before = now - REFRESH_AGE
    stale = [r for r in await db.run(db.rows) if r.last_update <= stale_before]
    random.shuffle(stale)
    gap = min(spread / max(len(stale), 1), MAX_GAP).total_seconds()
    for i, row in enumerate(stale):
        if sleep is not None and i > 0 and await sleep(random.uniform(0, gap)):
            break  # stopping
        if not await db.run(db.claim_refresh, row.domain, stale_before, utcnow() if sleep else now):
            continue  # refreshed, or being refreshed, by another node
        try:
            record = await lookup_record(resolver, row.domain)
        except NoRecord:
            # docs/mta-sts.md, Refresh: a cached mode-none policy goes when its record has gone.
            if row.policy.mode == Mode.NONE:
                await db.run(db.delete, row.domain)
                stats.deleted_gone.append(row.domain)
            continue
        except MTASTSError as e:
            _log.info("mta-sts refresh: record lookup failed: %s", e, extra={"domain": row.domain})
            stats.failed.append(row.domain)
            continue
        try:
            fetched = await fetch(resolver, row.domain)
        except MTASTSError as e:
            _log.info("mta-sts refresh: policy fetch failed: %s", e, extra={"domain": row.domain})
            stats.failed.append(row.domain)
            continue
        current = await db.run(db.cached, row.domain)
        if current is None:
            continue  # deleted meanwhile
        # A refresh is not a use: the row keeps its last use.
        stored = await db.run(
            db.store_fetched,
            row.domain,
            record,
            fetched,
            utcnow() if sleep else now,
            current,
            used=current.last_use,
        )
        stats.refreshed.append(stored.domain)
    return stats


async def refresh_loop(
    db: PolicyCache,
    resolver: Resolver,
    stop_event: asyncio.Event,
    *,
    interval: dt.timedelta = INTERVAL,
    fetch: Fetcher | None = None,
) -> None:
    """Run :func:`refresh_once` now and then every ``interval`` until ``stop_event`` is set."""

    async def sleep(seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop_event.wait(), seconds)
        return stop_event.is_set()

    while not stop_event.is_set():
        try:
            stats = await refresh_once(db, resolver, fetch=fetch, sleep=sleep)
            _log.info(
                "mta-sts refresh done",
                extra={
                    "refreshed": len(stats.refreshed),
                    "failed": len(stats.failed),
                    "deleted": len(stats.deleted_unused) + len(stats.deleted_gone),
                },
            )
        except Exception:
            _log.exception("mta-sts refresh failed")
        if await sleep(interval.total_seconds()):
            return
