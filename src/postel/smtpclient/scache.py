"""Idle SMTP sessions kept open for the next message to the same host, like
Postfix's scache (docs/delivery-policy.md, Connection reuse).

A connection is cached under the host, address, port, EHLO name and the exact
TLS policy it was verified under (TLSPolicy.cache_key): a message whose policy
differs in anything (DANE records, PKIX, REQUIRETLS, TLS-Required: No) never
gets it. Each connection is idle at most ``idle_time`` seconds and carries at
most ``max_messages`` transactions; then it is ended with QUIT.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Hashable
from dataclasses import dataclass, field

from postel.dane import VerifyResult

_log = logging.getLogger("postel.smtpclient")

IDLE_TIME = 2.0  # seconds; Postfix's smtp_connection_cache_time_limit
MAX_MESSAGES = 100  # transactions per connection
MAX_IDLE = 200  # idle connections in the whole cache
CLOSE_TIMEOUT = 2.0  # seconds for QUIT and close of an idle connection

CacheKey = tuple[str, str, int, str, Hashable]  # host, ip, port, EHLO name, TLS policy


@dataclass
class Connection:
    """An open SMTP session between transactions, with what it learned on the way
    in (greeting, EHLO, TLS and its verification), which a reused session reports."""

    key: CacheKey
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    local_ip: str = ""
    banner: str = ""
    receiving_mx_helo: str = ""
    extensions: dict[str, str] = field(default_factory=dict)
    tls: bool = False
    tls_version: str = ""
    cipher: str = ""
    starttls_offered: bool = False
    requiretls_offered: bool = False
    pkix_ok: bool | None = None
    dane: VerifyResult | None = None
    messages: int = 0  # transactions done on it
    _expiry: asyncio.TimerHandle | None = field(default=None, repr=False)


class SessionCache:
    """Idle connections by key. ``take`` hands one out exclusively, ``put``
    returns it after a completed transaction; ``aclose`` ends them all."""

    def __init__(
        self,
        *,
        idle_time: float = IDLE_TIME,
        max_messages: int = MAX_MESSAGES,
        max_idle: int = MAX_IDLE,
        logger: logging.Logger | None = None,
    ) -> None:
        self.idle_time = idle_time
        self.max_messages = max_messages
        self.max_idle = max_idle
        self.log = logger or _log
        self._idle: dict[CacheKey, list[Connection]] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self._closed = False
        self.hits = 0  # connections handed out again
        self.stored = 0  # connections put back

    def __len__(self) -> int:
        return sum(len(v) for v in self._idle.values())

    def take(self, key: CacheKey) -> Connection | None:
        """The most recently used idle connection for *key*, or None."""
        conns = self._idle.get(key)
        while conns:
            conn = conns.pop()
            if not conns:
                del self._idle[key]
            if conn._expiry is not None:
                conn._expiry.cancel()
                conn._expiry = None
            if conn.writer.is_closing() or conn.reader.at_eof():
                self._close_later(conn)  # the peer went away while idle
                conns = self._idle.get(key)
                continue
            self.hits += 1
            return conn
        return None

    def put(self, conn: Connection) -> None:
        """Keep *conn* for the next message, or end it when it has done enough."""
        conn.messages += 1
        if (
            self._closed
            or conn.messages >= self.max_messages
            or len(self) >= self.max_idle
            or conn.writer.is_closing()
        ):
            self._close_later(conn)
            return
        self.stored += 1
        self._idle.setdefault(conn.key, []).append(conn)
        loop = asyncio.get_running_loop()
        conn._expiry = loop.call_later(self.idle_time, self._expire, conn)

    def discard(self, conn: Connection) -> None:
        """End a connection that was taken and turned out unusable."""
        self._close_later(conn, quit_first=False)

    def _expire(self, conn: Connection) -> None:
        conn._expiry = None
        conns = self._idle.get(conn.key)
        if conns and conn in conns:
            conns.remove(conn)
            if not conns:
                del self._idle[conn.key]
            self._close_later(conn)

    def _close_later(self, conn: Connection, *, quit_first: bool = True) -> None:
        task = asyncio.get_running_loop().create_task(close_connection(conn, quit_first))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def aclose(self) -> None:
        """QUIT and close every idle connection (at shutdown); no errors logged."""
        self._closed = True
        for conns in list(self._idle.values()):
            for conn in conns:
                if conn._expiry is not None:
                    conn._expiry.cancel()
                    conn._expiry = None
                self._close_later(conn)
        self._idle.clear()
        if self._closing:
            await asyncio.gather(*list(self._closing), return_exceptions=True)


async def close_connection(conn: Connection, quit_first: bool = True) -> None:
    """Best effort QUIT (RFC 5321 §4.1.1.10), then close; never raises."""
    with contextlib.suppress(OSError, TimeoutError, ssl.SSLError, EOFError, RuntimeError):
        async with asyncio.timeout(CLOSE_TIMEOUT):
            if quit_first and not conn.writer.is_closing():
                conn.writer.write(b"QUIT\r\n")
                await conn.writer.drain()
                with contextlib.suppress(asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                    await conn.reader.readline()
            conn.writer.close()
            await conn.writer.wait_closed()
    if not conn.writer.is_closing():
        conn.writer.close()
