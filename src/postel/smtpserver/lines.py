"""Bounded reading of SMTP command lines and DATA (RFC 5321 §4.5.2, §4.5.3.1).

Lines longer than the limit are consumed up to their end and reported, so the
session stays in sync with the client. DATA is dot-unstuffed, its line ends are
normalised to CRLF, and it is written to a file as it arrives (bounded memory);
once the size limit is passed the rest is read and discarded. DATA is read in
chunks (one read per chunk, not per line: BENCHMARKS.md), never past its end.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import BinaryIO, Protocol


class ByteReader(Protocol):
    """What is read from (postel.smtpserver.conn.Conn); ``readuntil``,
    ``readexactly`` and ``read`` behave as asyncio.StreamReader's."""

    async def readuntil(self, separator: bytes = b"\n") -> bytes: ...
    async def readexactly(self, n: int) -> bytes: ...
    async def read(self, n: int) -> bytes: ...
    async def read_chunk(self, separator: bytes) -> tuple[bytes, bool]: ...


class TooLong:
    """Marker for a line longer than the limit (already consumed)."""


TOO_LONG = TooLong()


async def read_line(reader: ByteReader) -> bytes | TooLong | None:
    """One line including its LF; TOO_LONG if over the reader's limit; None at EOF.

    The reader's ``limit`` (set when the server is started) is the line bound.
    """
    too_long = False
    while True:
        try:
            line = await reader.readuntil(b"\n")
        except asyncio.IncompleteReadError:
            return None
        except asyncio.LimitOverrunError as exc:
            too_long = True
            await reader.read(max(exc.consumed, 1))
            continue
        return TOO_LONG if too_long else line


@dataclass
class DataResult:
    size: int = 0  # bytes of the message (unstuffed, CRLF line ends)
    too_big: bool = False
    line_too_long: bool = False
    eof: bool = False  # connection closed before the final "."
    eight_bit: bool = False


class _Sink:
    """What is done with each complete line of DATA (after dot-unstuffing)."""

    __slots__ = ("max_line", "max_size", "result", "write")

    def __init__(self, sink: BinaryIO, result: DataResult, max_size: int, max_line: int) -> None:
        self.write = sink.write
        self.result = result
        self.max_size = max_size
        self.max_line = max_line

    def line(self, line: bytes) -> None:
        """One LF-terminated line, its dot already removed."""
        result = self.result
        if not line.endswith(b"\r\n"):
            line = line[:-1] + b"\r\n"  # bare LF (a CR before it would have made CRLF)
        length = len(line) - 2
        if length > self.max_line:
            result.line_too_long = True
            return
        if result.too_big or result.line_too_long:
            return
        if not result.eight_bit and not line.isascii():
            result.eight_bit = True
        result.size += length + 2
        if result.size > self.max_size:
            result.too_big = True
            return
        self.write(line)

    def block(self, block: bytes) -> None:
        """LF-terminated lines, none of them starting with "." (same as line by line)."""
        result = self.result
        if result.line_too_long:
            return  # nothing that follows can change the result
        n = len(block)
        # The common block: CRLF only, no line too long, within the size: written
        # as it came (one write per chunk instead of per line).
        if block.count(b"\n") == block.count(b"\r\n") and (
            n <= self.max_line + 2 or max(map(len, block.split(b"\n"))) <= self.max_line + 1
        ):
            if result.too_big:
                return
            size = result.size + n
            if size <= self.max_size:
                if not result.eight_bit and not block.isascii():
                    result.eight_bit = True
                result.size = size
                self.write(block)
                return
        find = block.find
        line = self.line
        start = 0
        while start < n:
            end = find(b"\n", start) + 1
            line(block[start:end])
            start = end


async def read_data(
    reader: ByteReader,
    sink: BinaryIO,
    *,
    max_size: int,
    max_line: int,
    line_timeout: float,
) -> DataResult:
    """Read DATA until ``.CRLF`` into *sink* (RFC 5321 §4.5.2 dot-unstuffing).

    Reads in chunks, never past the final ``.CRLF``: what follows (pipelined
    commands) stays in *reader*. The reader's limit must be at least
    ``max_line + 2`` (the server uses exactly that). Raises TimeoutError when no
    chunk arrives within *line_timeout*.
    """
    result = DataResult()
    loop = asyncio.get_running_loop()
    # One timeout moved forward as chunks arrive (at most once a second), not a
    # wait_for task per read.
    async with asyncio.timeout(None) as deadline:
        return await _read_data(reader, _Sink(sink, result, max_size, max_line), deadline,
                                loop, line_timeout)  # fmt: skip


async def _read_data(
    reader: ByteReader,
    out: _Sink,
    deadline: asyncio.Timeout,
    loop: asyncio.AbstractEventLoop,
    line_timeout: float,
) -> DataResult:
    # Every "." at a line start follows an LF, so read_chunk(b"\n.") returns the
    # lines before it in one piece (or what is buffered, without splitting the
    # separator). Only a line start whose LF is already consumed (the message
    # start, after a dot line) needs a look at its first byte.
    result = out.result
    # Everything buffered up to the separator, in one piece (Conn.read_chunk).
    read_chunk = reader.read_chunk
    carry = b""  # start of a line whose LF has not arrived (never starts with ".")
    skipping = False  # in a line already known to be too long: drop up to its LF
    carry_max = out.max_line + 1  # longer: too long, whatever its end
    at_start = True  # at a line start with the LF before it consumed
    dot = False  # a "." at a line start has just been consumed
    moved = -1.0
    while True:
        now = loop.time()
        if now - moved >= 1.0:
            deadline.reschedule(now + line_timeout)
            moved = now
        if dot:
            dot = False
            at_start = True
            rest = await read_line(reader)
            if rest is None:
                result.eof = True
                return result
            if isinstance(rest, TooLong):
                result.line_too_long = True
                continue
            if rest == b"\r\n" or rest == b"\n":
                return result  # RFC 5321 §4.1.1.4: end of data
            out.line(rest)  # RFC 5321 §4.5.2: the first "." removed
            continue
        if at_start:
            try:
                first = await reader.readexactly(1)
            except asyncio.IncompleteReadError:
                result.eof = True
                return result
            if first == b".":
                dot = True
            elif first == b"\n":
                out.line(first)
            else:
                carry = first
                at_start = False
            continue
        try:
            chunk, dot = await read_chunk(b"\n.")
            if dot:
                chunk = chunk[:-1]
        except asyncio.IncompleteReadError as exc:
            chunk = exc.partial
            result.eof = True
        data = carry + chunk if carry else chunk
        cut = data.rfind(b"\n") + 1
        block, carry = data[:cut], data[cut:]
        if skipping and block:
            # The too long line ends at the first LF.
            block = block[block.find(b"\n") + 1 :]
            skipping = False
            result.line_too_long = True
        if block:
            out.block(block)
        if result.eof:
            return result
        if len(carry) > carry_max:
            skipping = True
            carry = b""
