"""What every IMAP session of a server shares: settings, logins, the store,
TLS, per-account connection counts and the "something changed" seam."""

from __future__ import annotations

import asyncio
import ssl
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from postel.imapserver.derived import DerivedCache
from postel.imapserver.storeapi import MailStore
from postel.junk.training import Trainer
from postel.sasl import PasswordCheck

if TYPE_CHECKING:
    from postel.store.notify import ChangeFeed, Subscription


@dataclass(frozen=True)
class Settings:
    """The [imap] section's limits (postel.config.model.IMAPConfig)."""

    max_line: int = 8192
    max_literal: int = 50 * 1024 * 1024  # APPENDLIMIT: the configured message size limit
    unauthenticated_timeout: float = 60.0
    idle_timeout: float = 1800.0  # RFC 9051 §5.4: at least 30 minutes
    max_connections_per_account: int = 50
    # Seconds between looks at a selected mailbox in IDLE when there is no
    # change feed (with one, IDLE wakes when a change is committed).
    recheck_interval: float = 2.0
    spill_dir: Path = Path("/tmp")
    max_total: int = 200 * 1024 * 1024  # all literals of one command (MULTIAPPEND)


class Watch(Protocol):
    """One session's watch on an account's changes (a delivery, a flag set by
    webmail, another IMAP session)."""

    async def wait(self, timeout: float) -> None:
        """Return when something may have changed, or after *timeout* seconds."""
        ...

    def close(self) -> None: ...


class Changes(Protocol):
    """Where sessions get their :class:`Watch`: :class:`FeedChanges` over the
    store's ChangeFeed in the serve process, :class:`PollChanges` without one."""

    def watch(self, account: str) -> Watch: ...


class _Poll:
    def __init__(self, interval: float) -> None:
        self.interval = interval

    async def wait(self, timeout: float) -> None:
        await asyncio.sleep(min(self.interval, timeout))

    def close(self) -> None:
        pass


class PollChanges:
    """No change feed: look again every *interval* seconds."""

    def __init__(self, interval: float = 2.0) -> None:
        self.interval = interval

    def watch(self, account: str) -> Watch:
        return _Poll(self.interval)


class _FeedWatch:
    def __init__(self, sub: Subscription, fallback: float) -> None:
        self.sub = sub
        self.fallback = fallback

    async def wait(self, timeout: float) -> None:
        if self.sub.events:  # what came while the session was busy
            self.sub.events.clear()
            return
        try:
            async with asyncio.timeout(timeout):
                if await self.sub.next_batch() is None:  # the feed stopped: poll
                    await asyncio.sleep(min(self.fallback, timeout))
        except TimeoutError:
            pass

    def close(self) -> None:
        self.sub.close()


class FeedChanges:
    """Watches over the store's ChangeFeed (store/notify.py): a session wakes
    as soon as any process commits a change to its account; the feed's own
    re-check covers a lost notification. Subscribed at login, so nothing
    committed while the session was busy is missed."""

    def __init__(self, feed: ChangeFeed, fallback: float = 2.0) -> None:
        self.feed = feed
        self.fallback = fallback

    def watch(self, account: str) -> Watch:
        if self.feed.closed:
            return _Poll(self.fallback)
        return _FeedWatch(self.feed.subscribe(account), self.fallback)


@dataclass
class SessionContext:
    settings: Settings
    logins: PasswordCheck
    open_store: Callable[[str], MailStore]
    tls: ssl.SSLContext | None = None  # for STARTTLS
    changes: Changes = field(default_factory=PollChanges)
    per_account: Counter[str] = field(default_factory=Counter)
    derived: DerivedCache = field(default_factory=DerivedCache)
    trainer: Trainer | None = None  # the junk filter learns from moves and flags
    quota: Callable[[str], int] = lambda account: 0  # bytes, 0: none (RFC 9208)
