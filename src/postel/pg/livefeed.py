"""The webmail's live updates on the PostgreSQL store: the node's ChangeListener
(LISTEN/NOTIFY, postel.pg.listener) as a postel.store.notify.LiveFeed, so that
a page open on node B hears of mail that node A stored.

A batch carries no detail: the webmail reads what changed from the store after
its modseq (postel.web.webmail.events), whatever woke it. While the listener's
connection is down its watches wake every few seconds (ChangeListener's
fallback), so a page still catches up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from postel.pg.listener import ChangeListener, ListenerWatch
from postel.store.notify import FeedEvent

WAIT = 3600.0  # seconds of one wait; the webmail's own heartbeat cancels it sooner


class PgWatch:
    """One page's watch on one account."""

    def __init__(self, feed: PgLiveFeed, watch: ListenerWatch) -> None:
        self._feed = feed
        self._watch = watch

    async def next_batch(self) -> list[FeedEvent] | None:
        if self._feed.closed:
            return None
        await self._watch.wait(WAIT)
        return None if self._feed.closed else []

    def close(self) -> None:
        self._watch.close()
        self._feed._watches.discard(self)


class PgLiveFeed:
    """The LiveFeed of one node over its ChangeListener."""

    def __init__(self, listener: ChangeListener) -> None:
        self.listener = listener
        self._closed = False
        self._watches: set[PgWatch] = set()

    @property
    def closed(self) -> bool:
        return self._closed

    def subscribe(self, account: str) -> PgWatch:
        watch = PgWatch(self, self.listener.watch(account))
        self._watches.add(watch)
        return watch

    async def stop(self) -> None:
        """End every page's stream (the server is stopping); idempotent."""
        self._closed = True
        for w in list(self._watches):
            w._watch.wake()


if TYPE_CHECKING:
    from postel.store.notify import LiveFeed

    # mypy --strict checks here that the webmail can use it.
    _: type[LiveFeed] = PgLiveFeed
