"""One client connection as an asyncio Protocol: a bounded input buffer the
session reads from, and replies written straight to the transport.

Replaces asyncio's StreamReader/StreamWriter pair for the SMTP session: one
object instead of three per connection, a line taken from the buffer without a
coroutine when it is there, replies written without a drain coroutine unless
the transport pushes back, and read timeouts from one timer per connection
instead of an ``asyncio.timeout`` per command (BENCHMARKS.md). ``readuntil``,
``readexactly`` and ``read`` behave as StreamReader's (postel.smtpserver.lines
reads DATA through them).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import Any

# Reading from the socket pauses above this many buffered bytes (at least twice
# the line limit): message data is taken in chunks of up to this size.
HIGH_WATER = 64 * 1024


class Conn(asyncio.Protocol):
    """*limit*: the longest line (with its LF) ``readuntil`` returns; reading
    from the socket pauses while more than ``high_water`` bytes are buffered."""

    def __init__(
        self, limit: int, on_connect: Callable[[Conn], None], high_water: int = HIGH_WATER
    ) -> None:
        self.limit = limit
        self.high_water = max(high_water, 2 * limit)
        self._on_connect = on_connect
        self._loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._eof = False
        self._exc: BaseException | None = None  # why the connection was lost
        self._waiter: asyncio.Future[None] | None = None
        self._read_paused = False
        self._write_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._lost = False
        self._closed: asyncio.Future[None] = self._loop.create_future()
        # Read timeout: one timer, moved lazily (see _arm).
        self._deadline = 0.0
        self._timer: asyncio.TimerHandle | None = None

    # -- Protocol callbacks -----------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._on_connect(self)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        self._wake()
        if not self._read_paused and len(self._buffer) > self.high_water:
            assert self.transport is not None
            try:
                self.transport.pause_reading()
                self._read_paused = True
            except NotImplementedError:  # pragma: no cover - not on TCP/TLS
                pass

    def eof_received(self) -> bool:
        self._eof = True
        self._wake()
        # Keep a plain TCP half-open (the session closes it); TLS cannot.
        return self.transport is not None and self.transport.get_extra_info("sslcontext") is None

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._eof = True
        if exc is not None:
            self._exc = exc
        self._wake()
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc or ConnectionResetError("connection lost"))
        self._drain_waiter = None
        if not self._closed.done():
            self._closed.set_result(None)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        self._drain_waiter = None

    # -- reading ----------------------------------------------------------------

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _resume(self) -> None:
        if self._read_paused and len(self._buffer) <= self.high_water // 2:
            self._read_paused = False
            assert self.transport is not None
            self.transport.resume_reading()

    def _raise_lost(self) -> None:
        if self._exc is not None:
            raise self._exc

    @property
    def buffered(self) -> int:
        """Bytes received and not read yet."""
        return len(self._buffer)

    def set_timeout(self, deadline: float | None) -> None:
        """Waits for data after this fail with TimeoutError at *deadline* (loop
        time); None: no timeout."""
        if deadline is None:
            self._deadline = 0.0
            return
        self._deadline = deadline
        timer = self._timer
        if timer is None or timer.when() > deadline:
            if timer is not None:
                timer.cancel()
            self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if not self._deadline or self._waiter is None:
            return  # no timeout, or not waiting: the next wait arms it again
        if self._loop.time() < self._deadline:
            self._timer = self._loop.call_at(self._deadline, self._on_timer)
            return
        waiter, self._waiter = self._waiter, None
        if not waiter.done():
            waiter.set_exception(TimeoutError())

    async def _wait(self) -> None:
        """Wait for more data, EOF, the connection's end or the timeout."""
        if self._waiter is not None:
            raise RuntimeError("two readers on one connection")
        if self._read_paused:
            self._read_paused = False
            assert self.transport is not None
            self.transport.resume_reading()
        deadline = self._deadline
        if deadline:
            if self._loop.time() >= deadline:
                raise TimeoutError
            if self._timer is None:
                self._timer = self._loop.call_at(deadline, self._on_timer)
        self._waiter = self._loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def take_line(self) -> bytes | None:
        """A complete line (with its LF) when buffered and within the limit, else None."""
        buf = self._buffer
        end = buf.find(b"\n", 0, self.limit + 1)
        if end < 0:
            return None
        line = bytes(buf[: end + 1])
        del buf[: end + 1]
        if self._read_paused:
            self._resume()
        return line

    async def readuntil(self, separator: bytes = b"\n") -> bytes:
        """As StreamReader.readuntil (LimitOverrunError, IncompleteReadError)."""
        self._raise_lost()
        seplen = len(separator)
        offset = 0
        buf = self._buffer
        while True:
            if len(buf) - offset >= seplen:
                isep = buf.find(separator, offset)
                if isep != -1:
                    break
                offset = len(buf) + 1 - seplen
                if offset > self.limit:
                    raise asyncio.LimitOverrunError(
                        "separator not found and chunk over the limit", offset
                    )
            if self._eof:
                chunk = bytes(buf)
                buf.clear()
                raise asyncio.IncompleteReadError(chunk, None)
            await self._wait()
        if isep > self.limit:
            raise asyncio.LimitOverrunError("separator found beyond the limit", isep)
        chunk = bytes(buf[: isep + seplen])
        del buf[: isep + seplen]
        self._resume()
        return chunk

    async def read_chunk(self, separator: bytes) -> tuple[bytes, bool]:
        """Data up to and including *separator* (True), or, when the buffer
        does not hold it, what can be taken without splitting one (False):
        everything buffered but its last ``len(separator) - 1`` bytes. At EOF
        without a separator: IncompleteReadError with the rest, as readuntil.
        Waits only when nothing can be returned."""
        self._raise_lost()
        keep = len(separator) - 1
        buf = self._buffer
        while True:
            isep = buf.find(separator)
            if isep != -1:
                end = isep + len(separator)
                chunk = bytes(buf[:end])
                del buf[:end]
                self._resume()
                return chunk, True
            if self._eof:
                chunk = bytes(buf)
                buf.clear()
                raise asyncio.IncompleteReadError(chunk, None)
            if len(buf) > keep:
                end = len(buf) - keep
                chunk = bytes(buf[:end])
                del buf[:end]
                self._resume()
                return chunk, False
            await self._wait()

    async def peek(self, n: int) -> bytes:
        """The first *n* bytes, left in the buffer (fewer only at EOF); waits for them."""
        self._raise_lost()
        while len(self._buffer) < n and not self._eof:
            await self._wait()
        return bytes(self._buffer[:n])

    async def readexactly(self, n: int) -> bytes:
        """As StreamReader.readexactly."""
        self._raise_lost()
        buf = self._buffer
        while len(buf) < n:
            if self._eof:
                partial = bytes(buf)
                buf.clear()
                raise asyncio.IncompleteReadError(partial, n)
            await self._wait()
        data = bytes(buf[:n])
        del buf[:n]
        self._resume()
        return data

    async def read(self, n: int) -> bytes:
        """As StreamReader.read with n > 0: at most *n* bytes, b"" at EOF."""
        self._raise_lost()
        if not self._buffer and not self._eof:
            await self._wait()
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        self._resume()
        return data

    # -- writing ----------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Queue *data*; ConnectionResetError when the connection is gone."""
        if self._lost or self.transport is None or self.transport.is_closing():
            raise ConnectionResetError("connection lost")
        self.transport.write(data)

    @property
    def must_drain(self) -> bool:
        """The transport asked us to stop writing until it has sent its buffer."""
        return self._write_paused

    async def drain(self) -> None:
        if self._lost:
            raise ConnectionResetError("connection lost")
        if not self._write_paused:
            return
        if self._drain_waiter is None:
            self._drain_waiter = self._loop.create_future()
        await self._drain_waiter

    # -- the rest ---------------------------------------------------------------

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if self.transport is None:
            return default
        return self.transport.get_extra_info(name, default)

    async def start_tls(self, context: ssl.SSLContext, handshake_timeout: float) -> None:
        """Switch to TLS as server (RFC 3207); the buffer must be empty."""
        assert self.transport is not None
        transport = await self._loop.start_tls(
            self.transport, self, context, server_side=True,
            ssl_handshake_timeout=handshake_timeout,
        )  # fmt: skip
        if transport is None:  # pragma: no cover - only when the loop cannot
            raise ConnectionResetError("TLS not started")
        self.transport = transport

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.transport is not None:
            self.transport.close()

    async def wait_closed(self) -> None:
        await asyncio.shield(self._closed)
