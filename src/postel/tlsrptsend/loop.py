"""The daily schedule (docs/tls-reporting.md, Schedule): at start the previous UTC day,
then every day at UTC midnight plus 4-6 minutes of jitter."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

_log = logging.getLogger("postel.tlsrptsend")

JITTER_MIN = dt.timedelta(minutes=4)
JITTER_MAX = dt.timedelta(minutes=6)


def next_run(now: dt.datetime, rand: float) -> dt.datetime:
    """The next UTC midnight after *now* plus 4-6 minutes (*rand* in [0, 1))."""
    now = now.astimezone(dt.UTC)
    midnight = dt.datetime(now.year, now.month, now.day, tzinfo=dt.UTC) + dt.timedelta(days=1)
    return midnight + JITTER_MIN + (JITTER_MAX - JITTER_MIN) * rand


class DailyLoop:
    """Calls *run* once at start and then daily; errors are logged, never fatal."""

    def __init__(
        self,
        run: Callable[[], Awaitable[Any]],
        *,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
        logger: logging.Logger | None = None,
        what: str = "tls report",
        task_name: str = "tlsrptsend",
    ) -> None:
        self._run = run
        self.what = what  # names the runs in log messages
        self.task_name = task_name
        self.now = now
        self.sleep = sleep
        self.rand = rand
        self.log = logger or _log
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> None:
        try:
            await self._run()
        except asyncio.CancelledError:
            raise
        except Exception as e:
            self.log.exception(f"{self.what} run failed", extra={"err": repr(e)})

    async def forever(self) -> None:
        await self.run_once()
        while True:
            now = self.now()
            at = next_run(now, self.rand())
            self.log.debug(f"next {self.what} run", extra={"at": at.isoformat()})
            await self.sleep(max(0.0, (at - now).total_seconds()))
            await self.run_once()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.forever(), name=self.task_name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
