"""COMPRESS=DEFLATE (RFC 4978): after the tagged OK of COMPRESS DEFLATE both
directions of the connection are raw DEFLATE streams (RFC 1951, no zlib
header).

The reading side inflates only as much as the session asks for: at most
CHUNK bytes of output per step, the compressed rest kept in the inflater
(never more than one read of the connection). So a small "bomb" of
compressed data cannot make the session hold more than the line and literal
limits of postel.imapserver.reader allow, which apply to the inflated data."""

from __future__ import annotations

import asyncio
import zlib
from typing import Protocol

from postel.imapserver.errors import IMAPServerError

CHUNK = 64 * 1024  # bytes inflated, or read from the connection, per step
WBITS = -15  # raw DEFLATE (RFC 4978 §4)


class CorruptStream(IMAPServerError):
    """The client's DEFLATE stream cannot be inflated: the session ends."""


class ByteReader(Protocol):
    async def read(self, n: int = -1) -> bytes: ...


class ByteWriter(Protocol):
    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...


class InflatingReader:
    """The parts of asyncio.StreamReader the session uses (readuntil,
    readexactly, read), over the inflated stream of *raw*; *limit* as the
    StreamReader's: a line longer than it raises LimitOverrunError."""

    def __init__(self, raw: ByteReader, limit: int) -> None:
        self.raw = raw
        self.limit = limit
        self._inflater = zlib.decompressobj(WBITS)
        self._buffer = bytearray()
        self._eof = False

    async def _fill(self) -> None:
        """Add up to CHUNK inflated bytes to the buffer; EOF sets _eof."""
        while not self._eof:
            tail = self._inflater.unconsumed_tail
            if not tail:
                if self._inflater.eof:  # the client ended its stream
                    self._eof = True
                    return
                tail = await self.raw.read(CHUNK)
                if not tail:
                    self._eof = True
                    return
            try:
                out = self._inflater.decompress(tail, CHUNK)
            except zlib.error as exc:
                what = f"COMPRESS: corrupt DEFLATE data from the client: {exc}"
                raise CorruptStream(what) from None
            if out:
                self._buffer += out
                return

    async def readuntil(self, separator: bytes = b"\n") -> bytes:
        while True:
            i = self._buffer.find(separator)
            if i >= 0:
                end = i + len(separator)
                if end > self.limit:
                    raise asyncio.LimitOverrunError("separator found beyond the limit", i)
                line = bytes(self._buffer[:end])
                del self._buffer[:end]
                return line
            if len(self._buffer) > self.limit:
                raise asyncio.LimitOverrunError("no separator within the limit", len(self._buffer))
            if self._eof:
                partial = bytes(self._buffer)
                self._buffer.clear()
                raise asyncio.IncompleteReadError(partial, None)
            await self._fill()

    async def readexactly(self, n: int) -> bytes:
        while len(self._buffer) < n:
            if self._eof:
                partial = bytes(self._buffer)
                self._buffer.clear()
                raise asyncio.IncompleteReadError(partial, n)
            await self._fill()
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data

    async def read(self, n: int = -1) -> bytes:
        if not self._buffer and not self._eof:
            await self._fill()
        size = len(self._buffer) if n < 0 else min(n, len(self._buffer))
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def buffered(self) -> int:
        return len(self._buffer)


class DeflatingWriter:
    """write() and drain() of asyncio.StreamWriter, deflating into *raw*.
    What is written is deflated at drain() (the session drains after every
    write), ending with a sync flush so the client can inflate all of it;
    more than THREAD_ABOVE bytes are deflated in a thread (zlib releases the
    GIL), not on the event loop: random-looking content deflates at only
    10-15 MB/s."""

    THREAD_ABOVE = 64 * 1024

    def __init__(self, raw: ByteWriter) -> None:
        self.raw = raw
        self._deflater = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, WBITS)
        self._pending: list[bytes] = []

    def _deflate(self, data: bytes) -> bytes:
        return self._deflater.compress(data) + self._deflater.flush(zlib.Z_SYNC_FLUSH)

    def write(self, data: bytes) -> None:
        self._pending.append(data)

    async def drain(self) -> None:
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            if len(data) > self.THREAD_ABOVE:
                out = await asyncio.to_thread(self._deflate, data)
            else:
                out = self._deflate(data)
            self.raw.write(out)
        await self.raw.drain()
