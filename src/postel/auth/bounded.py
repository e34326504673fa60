"""A time limit for a coroutine that arms no timer while the coroutine does not wait."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Generator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


async def within(coro: Coroutine[Any, Any, T], timeout: float) -> T:
    """``async with asyncio.timeout(timeout): return await coro``, cheaper.

    The coroutine runs until it first waits (or ends); only then is the
    asyncio.timeout timer armed for the rest. Answers from caches (most SPF
    and DMARC lookups of incoming mail) thus cost no timer handle and heap
    entry (BENCHMARKS.md); a timeout cannot fire while nothing waits anyway.
    The deadline counts from the first wait, microseconds later.
    """
    try:
        waiting = coro.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    async with asyncio.timeout(timeout):
        return await _Resume(coro, waiting)


class _Resume(Generic[T]):
    """Awaitable continuing a started coroutine as ``yield from`` would (PEP 380)."""

    __slots__ = ("_coro", "_waiting")

    def __init__(self, coro: Coroutine[Any, Any, T], waiting: Any) -> None:
        self._coro = coro
        self._waiting = waiting

    def __await__(self) -> Generator[Any, Any, T]:
        coro = self._coro
        signal = self._waiting
        result: T
        while True:
            try:
                sent = yield signal
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # CancelledError and the like go to coro
                try:
                    signal = coro.throw(exc)
                except StopIteration as done:
                    result = done.value
                    return result
            else:
                try:
                    signal = coro.send(sent)
                except StopIteration as done:
                    result = done.value
                    return result
