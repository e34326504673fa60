"""The periodic storage jobs of a PostgreSQL node (started by `postel serve`):
the bound of its body copies (postel.pg.bodycache), every node on its own,
and the sweeps of body rows no message names (postel.pg.bodysweep) and of
the object store (postel.pg.objectsweep), each one node at a time, a few
pages per run, going on where the last run of this node stopped."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from psycopg_pool import AsyncConnectionPool

from postel.pg.bodycache import trim_body_cache
from postel.pg.bodysweep import BodySweepReport, run_body_sweep
from postel.pg.objectstore import ObjectStore
from postel.pg.objectsweep import SweepReport, run_sweep
from postel.pg.pool import Conn

log = logging.getLogger("postel.pg")

CACHE_CHECK_SECONDS = 600.0
BODY_SWEEP_PAGES = 100  # pages of body rows (1000 each) per periodic run


@dataclass(frozen=True)
class Housekeeping:
    """What the jobs work on and how often: the node's copies under
    *body_cache* bounded to *cache_bytes*, checked every *cache_every*
    seconds; with *objects*, a sweep of *sweep_pages* pages every
    *sweep_every* seconds (0: none), keeping what is younger than *grace*;
    a sweep of body rows no message names every *body_sweep_every* seconds
    (0: none), keeping rows written within *body_grace*."""

    pool: AsyncConnectionPool[Conn]
    body_cache: Path
    cache_bytes: int
    objects: ObjectStore | None = None
    sweep_every: float = 3600.0
    sweep_pages: int = 10
    grace: float = 86400.0
    cache_every: float = CACHE_CHECK_SECONDS
    body_sweep_every: float = 3600.0
    body_grace: float = 86400.0
    body_pages: int = BODY_SWEEP_PAGES

    async def run(self) -> None:
        """The jobs until cancelled; a failed round is logged and retried at the next."""
        jobs = [self._cache_loop()]
        if self.body_sweep_every > 0:
            jobs.append(self._body_loop())
        if self.objects is not None and self.sweep_every > 0:
            jobs.append(self._sweep_loop(self.objects))
        await asyncio.gather(*jobs)

    async def _cache_loop(self) -> None:
        while True:
            await asyncio.sleep(self.cache_every)
            try:
                await trim_body_cache(self.pool, self.body_cache, self.cache_bytes)
            except Exception as exc:  # the database down: the next round
                log.warning(
                    "body copies not trimmed",
                    extra={"cache": str(self.body_cache), "err": f"{type(exc).__name__}: {exc}"},
                )

    async def _body_loop(self) -> None:
        async def sweep(after: bytes | None) -> BodySweepReport | None:
            return await run_body_sweep(
                self.pool, grace=self.body_grace, pages=self.body_pages, after=after
            )

        def failed(exc: Exception) -> None:
            log.warning("body row sweep failed", extra={"err": f"{type(exc).__name__}: {exc}"})

        await _resuming(self.body_sweep_every, sweep, failed)

    async def _sweep_loop(self, objects: ObjectStore) -> None:
        async def sweep(after: bytes | None) -> SweepReport | None:
            return await run_sweep(
                self.pool, objects, grace=self.grace, pages=self.sweep_pages, after=after
            )

        def failed(exc: Exception) -> None:
            log.warning(
                "object store sweep failed",
                extra={"store": objects.where, "err": f"{type(exc).__name__}: {exc}"},
            )

        await _resuming(self.sweep_every, sweep, failed)


class _Resumable(Protocol):
    @property
    def next_after(self) -> bytes | None: ...


async def _resuming(
    every: float,
    sweep: Callable[[bytes | None], Awaitable[_Resumable | None]],
    failed: Callable[[Exception], None],
) -> None:
    """Every *every* seconds a run of *sweep* from where this node's last
    run stopped (None: another node swept; the same place next time); a
    failed run (the database or the object store down) goes to *failed*."""
    after: bytes | None = None
    while True:
        await asyncio.sleep(every)
        try:
            report = await sweep(after)
        except Exception as exc:
            failed(exc)
            continue
        if report is not None:
            after = report.next_after
