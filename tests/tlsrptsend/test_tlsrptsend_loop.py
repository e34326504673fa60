"""The daily schedule with an injected clock (docs/tls-reporting.md, Schedule)."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from postel.tlsrptsend.loop import DailyLoop, next_run


def test_next_run_midnight_plus_jitter() -> None:
    now = dt.datetime(2026, 3, 14, 23, 59, 59, tzinfo=dt.UTC)
    assert next_run(now, 0.0) == dt.datetime(2026, 3, 15, 0, 4, tzinfo=dt.UTC)
    assert next_run(now, 0.5) == dt.datetime(2026, 3, 15, 0, 5, tzinfo=dt.UTC)
    assert next_run(now, 0.999) < dt.datetime(2026, 3, 15, 0, 6, tzinfo=dt.UTC)
    # Just after midnight: the next midnight, not the one that just passed.
    early = dt.datetime(2026, 3, 15, 0, 1, tzinfo=dt.UTC)
    assert next_run(early, 0.0) == dt.datetime(2026, 3, 16, 0, 4, tzinfo=dt.UTC)
    # Other time zones are converted to UTC.
    cet = dt.timezone(dt.timedelta(hours=1))
    assert next_run(dt.datetime(2026, 3, 15, 0, 30, tzinfo=cet), 0.0) == dt.datetime(
        2026, 3, 15, 0, 4, tzinfo=dt.UTC
    )


async def test_loop_runs_at_start_then_daily_and_survives_errors() -> None:
    clock = [dt.datetime(2026, 3, 14, 10, 0, tzinfo=dt.UTC)]
    runs: list[dt.datetime] = []
    slept: list[float] = []
    done = asyncio.Event()

    async def run() -> None:
        runs.append(clock[0])
        if len(runs) == 2:
            raise RuntimeError("boom")  # logged, the loop goes on
        if len(runs) == 3:
            done.set()

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += dt.timedelta(seconds=seconds)
        await asyncio.sleep(0)

    loop = DailyLoop(run, now=lambda: clock[0], sleep=sleep, rand=lambda: 0.5)
    loop.start()
    await asyncio.wait_for(done.wait(), 5)
    await loop.stop()
    assert runs[:3] == [
        dt.datetime(2026, 3, 14, 10, 0, tzinfo=dt.UTC),
        dt.datetime(2026, 3, 15, 0, 5, tzinfo=dt.UTC),
        dt.datetime(2026, 3, 16, 0, 5, tzinfo=dt.UTC),
    ]
    assert slept[0] == pytest.approx(14 * 3600 + 300)


async def test_stop_cancels_a_sleeping_loop() -> None:
    loop = DailyLoop(lambda: asyncio.sleep(0))
    loop.start()
    await asyncio.sleep(0.05)
    await asyncio.wait_for(loop.stop(), 2)
    assert loop._task is None
