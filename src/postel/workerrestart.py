"""Restarting a worker process of `postel serve` (the SMTP workers and the
delivery workers): after an exit, again after a delay that doubles up to
BACKOFF_MAX, unless the instance is stopping."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0
HEALTHY_AFTER = 60.0  # a worker that ran this long restarts without delay growth
# A worker that stopped cleanly (exit 0) was signalled: by systemd's stop, which
# signals every process of the service at once, the main process included. Wait
# this long (seconds) for the main process's own stop before calling it a failure.
STOP_NOTICE = 3.0


class Halt:
    """The stop events a supervisor watches: its own ``stopping`` and the
    instance's ``shutdown`` (set by the main process's stop, even before the
    supervisor's own stop is reached)."""

    def __init__(self, shutdown: asyncio.Event | None = None) -> None:
        self.stopping = asyncio.Event()
        self.shutdown = shutdown or asyncio.Event()

    def is_set(self) -> bool:
        return self.stopping.is_set() or self.shutdown.is_set()

    async def wait(self) -> None:
        waits = [asyncio.ensure_future(e.wait()) for e in (self.stopping, self.shutdown)]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in waits:
                t.cancel()

    async def wait_for(self, seconds: float) -> bool:
        """Wait up to *seconds* for a stop; True if one came."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wait(), seconds)
        return self.is_set()

    async def stop_requested(self, code: int) -> bool:
        """Did the worker exit because the instance stops? A clean exit (0) after a
        signal to every process of the service waits up to STOP_NOTICE for it."""
        if self.is_set():
            return True
        if code == 0:
            return await self.wait_for(STOP_NOTICE)
        return False


async def restart(
    log: logging.Logger,
    what: str,
    index: int,
    *,
    pid: int,
    code: int,
    ran_for: float,
    delay: float,
    halt: Halt,
    spawn: Callable[[], Awaitable[int | None]],
) -> float | None:
    """Start worker *index* (a *what*, e.g. "smtp worker") again after it exited
    with *code*: after *delay* (BACKOFF_FIRST when it ran HEALTHY_AFTER or
    longer), doubling after each failed start. *spawn* starts it and returns its
    pid. Returns the delay for its next restart, or None when the instance
    stopped first."""
    if ran_for >= HEALTHY_AFTER:
        delay = BACKOFF_FIRST
    log.error(
        f"{what} exited, restarting",
        extra={"worker": index, "pid": pid, "code": code, "delay": delay},
    )
    while not halt.is_set():
        if await halt.wait_for(delay):
            return None
        delay = min(delay * 2, BACKOFF_MAX)
        try:
            new_pid = await spawn()
        except Exception as exc:
            log.error(
                f"{what} restart failed", extra={"worker": index, "err": str(exc), "delay": delay}
            )
            continue
        log.info(f"{what} restarted", extra={"worker": index, "pid": new_pid})
        return delay
    return None
