"""Waking the queue runners of all nodes when an entry becomes due by hand or
is added: PostgreSQL LISTEN/NOTIFY on QUEUE_CHANNEL.

A node's adds (and its CLI's retry and release) queue ``pg_notify`` in their
transaction, with the node's id as payload; PostgreSQL sends it at commit. Each
node listens on one connection of its own, in a thread (the entry store is
synchronous), and calls its callbacks for notifications from other nodes (its
own adds call them directly). After a reconnect the callbacks run once, for
what may have been sent meanwhile (at start the runner looks anyway).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg

from postel.pg.pool import first_line

log = logging.getLogger("postel.pg")

QUEUE_CHANNEL = "postel_queue"
RETRY_MIN = 0.5  # seconds before reconnecting, doubled up to RETRY_MAX
RETRY_MAX = 30.0
POLL = 0.5  # seconds between looks at the stop flag while waiting


def publish(conn: psycopg.Connection[tuple[object, ...]], node: str) -> None:
    """Queue the wake-up in *conn*'s open transaction (sent at commit)."""
    conn.execute("SELECT pg_notify(%s, %s)", (QUEUE_CHANNEL, node))


class QueueWake:
    """The LISTEN thread of one node's entry store."""

    def __init__(self, conninfo: str, node: str, *, connect_timeout: float = 10.0) -> None:
        self._conninfo = conninfo
        self.node = node
        self._connect_timeout = connect_timeout
        self._callbacks: list[Callable[[], None]] = []
        self._stop = threading.Event()
        self.listening = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, callback: Callable[[], None]) -> None:
        """Call *callback* (from the listening thread) when another node adds;
        starts listening on first use."""
        self._callbacks.append(callback)
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="postel-pg-queue-wake", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _fire(self) -> None:
        for callback in list(self._callbacks):
            try:
                callback()
            except Exception as exc:
                log.warning("queue wake-up callback failed", extra={"err": repr(exc)})

    def _run(self) -> None:
        delay = RETRY_MIN
        reconnect = False
        down = False  # one warning per outage; the retries meanwhile at debug
        while not self._stop.is_set():
            try:
                conn = psycopg.connect(
                    self._conninfo,
                    autocommit=True,
                    connect_timeout=max(1, int(self._connect_timeout)),
                )
            except psycopg.Error as exc:
                log.log(
                    logging.DEBUG if down else logging.WARNING,
                    "queue listener cannot connect",
                    extra={"err": first_line(exc), "retry_in": delay},
                )
                down = True
                self._stop.wait(delay)
                delay = min(delay * 2, RETRY_MAX)
                continue
            try:
                conn.execute(f"LISTEN {QUEUE_CHANNEL}")
                delay = RETRY_MIN
                if down:
                    log.info("queue listener listening again")
                down = False
                if reconnect:
                    self._fire()  # whatever was added while the connection was down
                reconnect = True
                self.listening.set()
                while not self._stop.is_set():
                    for note in conn.notifies(timeout=POLL):
                        if note.payload != self.node:
                            self._fire()
            except psycopg.Error as exc:
                if not down:
                    log.warning(
                        "queue listener lost its connection", extra={"err": first_line(exc)}
                    )
                down = True
            finally:
                self.listening.clear()
                conn.close()
            self._stop.wait(delay)
