"""postel.groupcommit: callers waiting together share one write."""

from __future__ import annotations

import asyncio

import pytest

from postel.groupcommit import GroupCommit


async def test_waiting_callers_share_one_write() -> None:
    writes: list[list[int]] = []
    batch = GroupCommit[int](writes.append)
    await asyncio.gather(*(batch([i, i + 100]) for i in range(5)))
    assert sorted(i for w in writes for i in w) == sorted([*range(5), *range(100, 105)])
    assert len(writes) < 5 and batch.calls == len(writes)


async def test_a_failed_write_fails_each_caller_of_that_write() -> None:
    def write(items: list[int]) -> None:
        raise OSError(f"disk full writing {items}")

    batch = GroupCommit[int](write)
    results = await asyncio.gather(batch([1]), batch([2]), return_exceptions=True)
    assert all(isinstance(r, OSError) for r in results)
    with pytest.raises(OSError):
        await batch([3])  # the next write is tried again
    await batch.wait_idle()
