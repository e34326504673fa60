"""Group commit: one database write, off the event loop, for the items of
every caller waiting at that moment.

Concurrent delivery attempts each mark their queue entries (begin_attempt),
remove them when done and record TLS results; with many attempts at once those
small transactions wait for each other at the database lock. A GroupCommit
runs ``write(items)`` in a worker thread for all items given while the previous
write ran; each caller returns when the write that included its items has
committed (or raises its error), so nothing is acknowledged before it is durable.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


async def _in_thread(fn: Callable[[], object]) -> object:
    return await asyncio.to_thread(fn)


class GroupCommit(Generic[T]):
    """``await batch(items)``: ``write(all waiting items)`` once, off the event loop.

    *run* runs the write (default: asyncio.to_thread), e.g. under a lock.
    """

    def __init__(
        self,
        write: Callable[[list[T]], object],
        run: Callable[[Callable[[], object]], Awaitable[object]] = _in_thread,
    ) -> None:
        self._write = write
        self._run = run
        self._waiting: list[tuple[list[T], asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None
        self.calls = 0  # write calls made (tests, benchmarks)

    async def __call__(self, items: Sequence[T]) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((list(items), fut))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(), name="group-commit")
        await fut

    async def _drain(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            items = [i for part, _ in batch for i in part]
            self.calls += 1
            try:
                await self._run(functools.partial(self._write, items))
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
