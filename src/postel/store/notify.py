"""Change notifications across processes (docs/decisions.md, change notifications).

The account's index is the truth; a notification only says "account A changed,
up to modseq N, like this" so that watchers (webmail, IMAP IDLE) look at once.
Every process that writes (the serve main process, the SMTP workers, the CLI)
sends one datagram per committed transaction to ``<data>/tmp/changes.sock``, never
blocking and never failing the write when nobody listens or the socket's buffer
is full. The main process owns the socket (:class:`ChangeFeed`) and fans the
changes out to its asyncio subscribers, each with a bounded queue: a slow
subscriber, a datagram that could not be sent or one too large for its details
gets a :class:`Resync` (read the state again) instead. A periodic re-check of
each watched account's modseq is the safety net for a lost last datagram.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import socket
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from postel.store.changes import Change, ChangeKind
from postel.store.errors import StoreError

log = logging.getLogger("postel.store")

SOCKET_FILE = "changes.sock"
MAX_DATAGRAM = 16 * 1024  # larger: the details are dropped, watchers resync
MAX_DETAIL = 200  # changes per datagram, likewise
QUEUE_SIZE = 256  # events per subscriber before it is told to resync
RECHECK_INTERVAL = 10.0  # seconds between safety-net re-checks of watched accounts
_SEND_ERRNOS = (errno.ENOENT, errno.ECONNREFUSED, errno.EAGAIN, errno.ENOBUFS, errno.ENOTCONN)


class NotifyError(StoreError):
    """A change notification that cannot be decoded, or a feed that cannot start."""


@dataclass(frozen=True, slots=True)
class Notice:
    """One datagram: the changes of one committed transaction of *account*.
    *lost*: details were dropped (too many, or earlier datagrams not sent)."""

    account: str
    modseq: int
    changes: tuple[Change, ...]
    lost: bool = False


@dataclass(frozen=True, slots=True)
class Resync:
    """Details were lost: read what changed since your last modseq again."""

    modseq: int


FeedEvent = Change | Resync


class Watch(Protocol):
    """One watcher's registration (a :class:`Subscription`, or on the PostgreSQL
    store postel.pg.livefeed's)."""

    async def next_batch(self) -> list[FeedEvent] | None:
        """What changed, once something did; None when the feed stops."""
        ...

    def close(self) -> None: ...


class LiveFeed(Protocol):
    """What the webmail's live updates need of a feed: :class:`ChangeFeed`, or
    the changes of every node on the PostgreSQL store (postel.pg.livefeed)."""

    @property
    def closed(self) -> bool: ...
    def subscribe(self, account: str) -> Watch: ...


def encode(account: str, changes: Sequence[Change], *, lost: bool = False) -> bytes:
    modseq = max((c.modseq for c in changes), default=0)
    detail = [[c.kind.value, c.mailbox, c.modseq, c.uid, c.old_name] for c in changes]
    if len(detail) > MAX_DETAIL:
        detail, lost = [], True
    data = json.dumps({"a": account, "m": modseq, "c": detail, "l": lost}).encode()
    if len(data) > MAX_DATAGRAM:
        data = json.dumps({"a": account, "m": modseq, "c": [], "l": True}).encode()
    return data


def decode(data: bytes) -> Notice:
    try:
        obj = json.loads(data)
        changes = tuple(
            Change(ChangeKind(k), str(box), int(m), int(uid), str(old))
            for k, box, m, uid, old in obj["c"]
        )
        return Notice(str(obj["a"]), int(obj["m"]), changes, bool(obj["l"]))
    except (ValueError, TypeError, KeyError) as exc:
        raise NotifyError(f"change notification: cannot decode {data[:80]!r}: {exc}") from None


class Publisher:
    """Sends the changes of each commit to the data directory's change socket.
    Thread-safe; never raises for a missing listener or a full buffer (the
    next datagram that gets through tells the feed that details were lost)."""

    def __init__(self, directory: Path) -> None:
        self.path = str(Path(directory) / SOCKET_FILE)
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._lost: set[str] = set()
        self._closed = False

    def __call__(self, account: str, changes: Sequence[Change]) -> None:
        with self._lock:
            if self._closed:
                return
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._sock.setblocking(False)
            data = encode(account, changes, lost=account in self._lost)
            try:
                self._sock.sendto(data, self.path)
            except OSError as exc:
                if exc.errno not in _SEND_ERRNOS:
                    raise
                self._lost.add(account)
                return
            self._lost.discard(account)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._sock is not None:
                self._sock.close()
                self._sock = None


class Subscription:
    """One watcher's registration with a :class:`ChangeFeed`: its bounded queue.
    Registered when made, so nothing committed afterwards is missed; close it."""

    def __init__(self, feed: ChangeFeed, account: str, size: int) -> None:
        self._feed = feed
        self.account = account
        self.size = size
        self.events: deque[FeedEvent] = deque()
        self.ready = asyncio.Event()

    def push(self, event: FeedEvent) -> None:
        if len(self.events) >= self.size:
            # Too slow: drop the detail, keep memory bounded, ask for a resync.
            self.events.clear()
            event = Resync(event.modseq)
        self.events.append(event)
        self.ready.set()

    async def next_batch(self) -> list[FeedEvent] | None:
        """Everything waiting, once there is something; None when the feed stops.
        Cancelling it loses nothing."""
        while not self._feed.closed:
            if self.events:
                batch = list(self.events)
                self.events.clear()
                return batch
            await self.ready.wait()
            self.ready.clear()
        return None

    def close(self) -> None:
        self._feed._unsubscribe(self)


class ChangeFeed:
    """The main process's end: receives the notifications of every process and
    fans them out to :meth:`watch` subscribers of each account. The socket is
    in *directory*, the data directory's tmp/ (which backups and verifydata
    leave alone, and which only postel's user can enter).

    *recheck(account)* returns the account's current modseq (blocking, run in
    a thread); it is asked every *recheck_interval* seconds for the accounts
    being watched, and subscribers get a Resync when it is ahead of the
    notifications seen."""

    def __init__(
        self,
        directory: Path,
        *,
        recheck: Callable[[str], int] | None = None,
        recheck_interval: float = RECHECK_INTERVAL,
        queue_size: int = QUEUE_SIZE,
    ) -> None:
        self.path = Path(directory) / SOCKET_FILE
        self._recheck = recheck
        self._interval = recheck_interval
        self._queue_size = queue_size
        self._subs: dict[str, set[Subscription]] = {}
        self._seen: dict[str, int] = {}  # account -> highest modseq notified
        self._sock: socket.socket | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = asyncio.Event()

    async def start(self) -> None:
        """Bind the socket (the caller owns the data directory: a socket file
        left here is from a server that is gone)."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        try:
            sock.bind(str(self.path))
            os.chmod(self.path, 0o600)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            raise NotifyError(f"change socket {self.path}: {exc.strerror or exc}") from None
        self._sock = sock
        asyncio.get_running_loop().add_reader(sock.fileno(), self._readable)
        if self._recheck is not None:
            self._task = asyncio.create_task(self._recheck_loop(), name="change-feed-recheck")
        log.debug("change socket listening", extra={"path": str(self.path)})

    async def stop(self) -> None:
        """Close the socket and end every watcher (idempotent)."""
        self._closed.set()
        for subs in self._subs.values():
            for sub in subs:
                sub.ready.set()
        if self._sock is not None:
            asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def watchers(self, account: str) -> int:
        return len(self._subs.get(account, ()))

    def _readable(self) -> None:
        assert self._sock is not None
        for _ in range(64):  # then let the loop run other work
            try:
                data = self._sock.recv(MAX_DATAGRAM + 1)
            except (BlockingIOError, InterruptedError):
                return
            try:
                notice = decode(data)
            except NotifyError as exc:
                log.warning("change notification ignored", extra={"err": str(exc)})
                continue
            self.publish(notice)

    def publish(self, notice: Notice) -> None:
        """Fan *notice* out to the watchers of its account (in the loop's thread)."""
        seen = self._seen.get(notice.account, 0)
        if notice.modseq > seen:
            self._seen[notice.account] = notice.modseq
        subs = self._subs.get(notice.account)
        if not subs:
            return
        for sub in subs:
            if notice.lost or not notice.changes:
                sub.push(Resync(notice.modseq))
            for change in notice.changes:
                sub.push(change)

    async def _recheck_loop(self) -> None:
        assert self._recheck is not None
        while True:
            await asyncio.sleep(self._interval)
            for account in [a for a, subs in self._subs.items() if subs]:
                try:
                    modseq = await asyncio.to_thread(self._recheck, account)
                except Exception as exc:  # an account gone meanwhile: the watchers go on
                    log.debug(
                        "change re-check failed", extra={"account": account, "err": repr(exc)}
                    )
                    continue
                if account not in self._seen:  # first look: nothing to compare with
                    self._seen[account] = modseq
                elif modseq > self._seen[account]:
                    self._seen[account] = modseq
                    for sub in self._subs.get(account, ()):
                        sub.push(Resync(modseq))

    def subscribe(self, account: str) -> Subscription:
        """Register a watcher of *account* now (see :class:`Subscription`)."""
        sub = Subscription(self, account, self._queue_size)
        self._subs.setdefault(account, set()).add(sub)
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.account)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.account]

    async def watch(self, account: str) -> AsyncIterator[FeedEvent]:
        """The changes of *account* as they are committed, until the feed stops."""
        async for batch in self.watch_batches(account):
            for event in batch:
                yield event

    async def watch_batches(self, account: str) -> AsyncIterator[list[FeedEvent]]:
        """Like :meth:`watch`, but everything waiting at once."""
        sub = self.subscribe(account)
        try:
            while (batch := await sub.next_batch()) is not None:
                yield batch
        finally:
            sub.close()
