"""Group commit for queue writes that take a list of entry ids.

Concurrent delivery attempts each mark their entries (begin_attempt) and remove
them when done; with many attempts at once those small transactions wait for
each other at the database lock. An IdBatch runs one call, in a worker thread,
for the ids of every caller waiting at that moment; each caller returns when
the call that included its ids has committed, so nothing is acknowledged
before it is durable.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Sequence


class IdBatch:
    """``await batch(ids)``: ``write(all waiting ids)`` once, off the event loop."""

    def __init__(
        self,
        write: Callable[[list[int]], object],
        run: Callable[[Callable[[], object]], Awaitable[object]],
    ) -> None:
        self._write = write
        self._run = run
        self._waiting: list[tuple[list[int], asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None
        self.calls = 0  # write calls made (tests, benchmarks)

    async def __call__(self, ids: Sequence[int]) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((list(ids), fut))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(), name="queue-batch")
        await fut

    async def _drain(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            ids = [i for part, _ in batch for i in part]
            self.calls += 1
            try:
                await self._run(functools.partial(self._write, ids))
            except Exception as exc:
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
            else:
                for _, fut in batch:
                    if not fut.done():
                        fut.set_result(None)

    async def wait_idle(self) -> None:
        """Wait for the running write (at stop, before the database closes)."""
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
