"""Changes committed by any node, heard on one LISTEN connection per node and
handed to the watchers of each account (IMAP IDLE, the webmail).

:class:`ChangeListener` has the shape of postel.imapserver.context.Changes:
``watch(account)`` gives a watch whose ``wait(timeout)`` returns when a change
to that account was committed anywhere, or after *timeout*. A watch keeps what
arrived while its session was busy, so nothing committed after it was made is
missed. While the connection is down (the database restarting, the network),
watches fall back to looking every *fallback* seconds, and every watch is woken
once the connection is back: notifications sent meanwhile are lost, and the
sessions read again from their modseq.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from postel.pg import notify
from postel.pg.errors import PgError
from postel.pg.pool import connect, first_line
from postel.pg.settings import PgSettings

log = logging.getLogger("postel.pg")

RETRY_MIN = 0.5  # seconds before reconnecting, doubled up to RETRY_MAX
RETRY_MAX = 30.0


class ListenerWatch:
    """One session's watch on one account."""

    __slots__ = ("_event", "_listener", "account")

    def __init__(self, listener: ChangeListener, account: str) -> None:
        self._listener = listener
        self.account = account
        self._event = asyncio.Event()

    def wake(self) -> None:
        self._event.set()

    async def wait(self, timeout: float) -> None:
        if self._event.is_set():  # what came while the session was busy
            self._event.clear()
            return
        if not self._listener.listening:  # look again soon; woken when it is back
            timeout = min(self._listener.fallback, timeout)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._event.wait()
        self._event.clear()

    def close(self) -> None:
        self._listener._forget(self)


class ChangeListener:
    """The node's LISTEN connection and the watches it wakes."""

    def __init__(self, settings: PgSettings, *, fallback: float = 2.0) -> None:
        self.settings = settings
        self.fallback = fallback
        self.listening = False
        self._watches: dict[str, set[ListenerWatch]] = {}
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()

    def watch(self, account: str) -> ListenerWatch:
        w = ListenerWatch(self, account)
        self._watches.setdefault(account, set()).add(w)
        return w

    def _forget(self, w: ListenerWatch) -> None:
        watches = self._watches.get(w.account)
        if watches is not None:
            watches.discard(w)
            if not watches:
                del self._watches[w.account]

    def _wake(self, account: str | None) -> None:
        groups = self._watches.values() if account is None else [self._watches.get(account, set())]
        for watches in groups:
            for w in watches:
                w.wake()

    async def start(self, *, timeout: float = 10.0) -> None:
        """Start listening; returns once LISTEN is in place (or after *timeout*,
        leaving the loop to retry)."""
        self._task = asyncio.create_task(self._run(), name="postel.pg.listener")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._connected.wait()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.listening = False

    async def _run(self) -> None:
        delay = RETRY_MIN
        down = False  # one warning per outage; the retries meanwhile at debug
        while True:
            try:
                conn = await connect(self.settings)
            except PgError as exc:
                level = logging.DEBUG if down else logging.WARNING
                log.log(
                    level,
                    "change listener cannot connect",
                    extra={"err": str(exc), "retry_in": delay},
                )
                down = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
                continue
            try:
                await conn.execute(f"LISTEN {notify.CHANNEL}")
                self.listening = True
                self._connected.set()
                delay = RETRY_MIN
                if down:
                    log.info("change listener listening again")
                down = False
                self._wake(None)  # whatever was sent while not listening
                async for note in conn.notifies():
                    try:
                        change = notify.decode(note.payload)
                    except notify.BadNotification:
                        continue
                    self._wake(change.account)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # psycopg.OperationalError: the connection broke
                if not down:
                    log.warning(
                        "change listener lost its connection", extra={"err": first_line(exc)}
                    )
                down = True
            finally:
                self.listening = False
                with contextlib.suppress(Exception):
                    await conn.close()
            await asyncio.sleep(delay)
