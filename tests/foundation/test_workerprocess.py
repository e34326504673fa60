"""Restarting a worker process: backoff, healthy reset, stop first."""

from __future__ import annotations

import asyncio
import logging

import pytest

from postel import workerprocess
from postel.workerprocess import BACKOFF_FIRST, Halt, restart

log = logging.getLogger("postel.test")


async def test_a_failed_start_doubles_the_delay_until_one_succeeds(
    caplog: pytest.LogCaptureFixture,
) -> None:
    halt = Halt()
    tries: list[float] = []

    async def spawn() -> int:
        tries.append(asyncio.get_running_loop().time())
        if len(tries) < 3:
            raise OSError("no such file")
        return 4242

    with caplog.at_level(logging.INFO, logger="postel.test"):
        nxt = await restart(
            log, "smtp worker", 1, pid=1, code=1, ran_for=0.0, delay=0.01, halt=halt, spawn=spawn
        )
    assert nxt == pytest.approx(0.08)  # 0.01 -> 0.02 -> 0.04 -> 0.08 after three starts
    assert len(tries) == 3
    assert tries[2] - tries[1] >= 0.035  # the third waited the doubled delay
    messages = [r.getMessage() for r in caplog.records]
    assert messages.count("smtp worker restart failed") == 2
    assert messages[-1] == "smtp worker restarted"


async def test_a_worker_that_ran_long_restarts_after_the_first_delay() -> None:
    halt = Halt()
    started: list[float] = []
    loop = asyncio.get_running_loop()
    t0 = loop.time()

    async def spawn() -> int:
        started.append(loop.time() - t0)
        return 1

    nxt = await restart(
        log, "delivery worker", 2, pid=1, code=1,
        ran_for=workerprocess.HEALTHY_AFTER, delay=20.0, halt=halt, spawn=spawn,
    )  # fmt: skip
    assert started and started[0] < 5.0  # not the 20 s it had grown to
    assert nxt == BACKOFF_FIRST * 2


async def test_no_restart_once_the_instance_stops() -> None:
    shutdown = asyncio.Event()
    halt = Halt(shutdown)
    spawned: list[int] = []

    async def spawn() -> int:
        spawned.append(1)
        return 1

    asyncio.get_running_loop().call_later(0.05, shutdown.set)
    nxt = await restart(
        log, "smtp worker", 1, pid=1, code=1, ran_for=0.0, delay=5.0, halt=halt, spawn=spawn
    )
    assert nxt is None and spawned == []


async def test_a_clean_exit_waits_for_the_stop_that_follows() -> None:
    halt = Halt()
    asyncio.get_running_loop().call_later(0.05, halt.shutdown.set)
    assert await halt.stop_requested(0)
    assert not await Halt().stop_requested(1)  # a crash is not a stop
