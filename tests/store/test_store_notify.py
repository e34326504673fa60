"""The change feed: datagrams from every writer to the main process's watchers."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from postel.datadir import DataDir
from postel.store import Store
from postel.store.changes import Change, ChangeKind
from postel.store.notify import ChangeFeed, FeedEvent, Notice, Resync, decode, encode

MSG = b"From: a@example.org\r\nSubject: s\r\n\r\nbody\r\n"


async def next_event(it: object, timeout: float = 2.0) -> FeedEvent:
    assert hasattr(it, "__anext__")
    event: FeedEvent = await asyncio.wait_for(it.__anext__(), timeout)
    return event


async def test_a_commit_reaches_a_watcher_through_the_socket(datadir: DataDir) -> None:
    feed = ChangeFeed(datadir.tmp)
    await feed.start()
    store = Store(datadir)  # the default publisher: the data directory's socket
    try:
        acc = store.account("alice")
        it = feed.watch("alice").__aiter__()
        first = asyncio.ensure_future(next_event(it))
        await asyncio.sleep(0.01)  # subscribed
        msg = await asyncio.to_thread(acc.deliver_bytes, "Inbox", MSG)
        event = await first
        assert event == Change(ChangeKind.ADDED, "Inbox", acc.highest_modseq(), msg.uid)
        await asyncio.to_thread(acc.set_flags, msg.msgid, ["\\Seen"])
        assert (await next_event(it)) == Change(
            ChangeKind.FLAGS, "Inbox", acc.highest_modseq(), msg.uid
        )
    finally:
        store.close()
        await feed.stop()
    assert not feed.path.exists()


async def test_stop_ends_every_watcher(datadir: DataDir) -> None:
    feed = ChangeFeed(datadir.tmp)
    await feed.start()
    seen: list[FeedEvent] = []

    async def watch() -> None:
        async for event in feed.watch("alice"):
            seen.append(event)

    task = asyncio.create_task(watch())
    await asyncio.sleep(0.01)
    assert feed.watchers("alice") == 1
    await feed.stop()
    await asyncio.wait_for(task, 1)
    assert seen == [] and feed.watchers("alice") == 0


async def test_a_slow_watcher_is_told_to_resync_and_stays_bounded(datadir: DataDir) -> None:
    feed = ChangeFeed(datadir.tmp, queue_size=4)
    it = feed.watch("alice").__aiter__()
    first = asyncio.ensure_future(next_event(it))
    await asyncio.sleep(0.01)
    for modseq in range(1, 101):
        feed.publish(Notice("alice", modseq, (Change(ChangeKind.ADDED, "Inbox", modseq, modseq),)))
    events = [await first]
    while len(events) < 5:
        try:
            events.append(await next_event(it, 0.05))
        except TimeoutError:
            break
    # The detail that did not fit was dropped, and the watcher told so.
    assert events == [Resync(97)] + [Change(ChangeKind.ADDED, "Inbox", m, m) for m in (98, 99, 100)]
    feed.publish(Notice("bob", 7, (Change(ChangeKind.ADDED, "Inbox", 7, 1),)))  # not watched


async def test_lost_datagrams_mean_resync(datadir: DataDir) -> None:
    """Sent while nobody listened: the next one that arrives says details were lost."""
    store = Store(datadir)
    try:
        acc = store.account("alice")
        await asyncio.to_thread(acc.deliver_bytes, "Inbox", MSG)  # nobody listens
        feed = ChangeFeed(datadir.tmp)
        await feed.start()
        try:
            it = feed.watch("alice").__aiter__()
            first = asyncio.ensure_future(next_event(it))
            await asyncio.sleep(0.01)
            msg = await asyncio.to_thread(acc.deliver_bytes, "Inbox", MSG)
            modseq = acc.highest_modseq()
            assert await first == Resync(modseq)
            assert await next_event(it) == Change(ChangeKind.ADDED, "Inbox", modseq, msg.uid)
        finally:
            await feed.stop()
    finally:
        store.close()


async def test_recheck_finds_changes_whose_notice_never_came(datadir: DataDir) -> None:
    def drop(account: str, changes: Sequence[Change]) -> None:
        pass

    store = Store(datadir, publish=drop)
    acc = store.account("alice")
    feed = ChangeFeed(
        datadir.tmp,
        recheck=lambda name: store.account(name).highest_modseq(),
        recheck_interval=0.05,
    )
    await feed.start()
    try:
        it = feed.watch("alice").__aiter__()
        first = asyncio.ensure_future(next_event(it))
        await asyncio.sleep(0.2)  # the first re-check learns the current modseq
        await asyncio.to_thread(acc.deliver_bytes, "Inbox", MSG)
        assert await first == Resync(acc.highest_modseq())
    finally:
        await feed.stop()
        store.close()


@pytest.mark.parametrize("count", [1, 500])
def test_encoding_round_trip_drops_detail_when_too_long(count: int) -> None:
    changes = [Change(ChangeKind.REMOVED, "Inbox/ä", 9, uid) for uid in range(1, count + 1)]
    notice = decode(encode("alice", changes))
    assert notice.account == "alice" and notice.modseq == 9
    if count == 1:
        assert notice.changes == tuple(changes) and not notice.lost
    else:
        assert notice.changes == () and notice.lost


async def test_a_subscription_sees_what_is_published_after_it_is_made(datadir: DataDir) -> None:
    feed = ChangeFeed(datadir.tmp)
    sub = feed.subscribe("alice")
    change = Change(ChangeKind.ADDED, "Inbox", 3, 1)
    feed.publish(Notice("alice", 3, (change,)))
    assert await asyncio.wait_for(sub.next_batch(), 1) == [change]
    waiting = asyncio.ensure_future(sub.next_batch())
    await asyncio.sleep(0.01)
    waiting.cancel()  # cancelled while waiting: nothing is lost
    feed.publish(Notice("alice", 4, (change,)))
    assert await asyncio.wait_for(sub.next_batch(), 1) == [change]
    sub.close()
    assert feed.watchers("alice") == 0
    await feed.stop()
    assert await feed.subscribe("alice").next_batch() is None
