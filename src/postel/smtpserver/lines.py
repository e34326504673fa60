"""Bounded reading of SMTP command lines and DATA (RFC 5321 §4.5.2, §4.5.3.1).

Lines longer than the limit are consumed up to their end and reported, so the
session stays in sync with the client. DATA is dot-unstuffed and written to a
file as it arrives (bounded memory); once the size limit is passed the rest is
read and discarded. DATA is read in chunks (one read per chunk, not per line:
BENCHMARKS.md), never past its end.

Line ends (SMTP smuggling, the CVE-2023-51764 class): only <CRLF>.<CRLF> ends
DATA (RFC 5321 §4.1.1.4), never a "." line next to a bare LF or bare CR. A bare
LF, a bare CR or a NUL anywhere in DATA or in a command line is a fault
(RFC 5321 §2.3.8, RFC 2045 §2.8) that the session refuses, as Postfix's
``smtpd_forbid_bare_newline = reject`` does; DATA is still read to its real
end, so what follows stays in sync and nothing inside one DATA runs as a command.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import BinaryIO, Protocol


class ByteReader(Protocol):
    """What is read from (postel.smtpserver.conn.Conn); ``readuntil``,
    ``readexactly`` and ``read`` behave as asyncio.StreamReader's, ``peek``
    returns the first bytes without consuming them."""

    async def readuntil(self, separator: bytes = b"\n") -> bytes: ...
    async def readexactly(self, n: int) -> bytes: ...
    async def read(self, n: int) -> bytes: ...
    async def read_chunk(self, separator: bytes) -> tuple[bytes, bool]: ...
    async def peek(self, n: int) -> bytes: ...


class TooLong:
    """Marker for a line longer than the limit (already consumed)."""


TOO_LONG = TooLong()

BARE_LF = "bare <LF>"
BARE_CR = "bare <CR>"
NUL = "NUL"


def line_fault(line: bytes) -> str | None:
    """Why *line* (ending in LF) is not a proper line: BARE_LF, BARE_CR or NUL
    (RFC 5321 §2.3.8: CR and LF only together, as the line end); else None."""
    if not line.endswith(b"\r\n"):
        return BARE_LF
    if line.find(b"\r") != len(line) - 2:
        return BARE_CR
    if b"\x00" in line:
        return NUL
    return None


class BareLine:
    """Marker for a command line with a bare CR, bare LF or NUL (already consumed)."""

    __slots__ = ("fault",)

    def __init__(self, fault: str) -> None:
        self.fault = fault


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
    fault: str | None = None  # the first bare LF, bare CR or NUL (line_fault)


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
        if result.line_too_long or result.fault is not None:
            return  # the first of these decides; nothing that follows can change it
        length = len(line) - 2 if line.endswith(b"\r\n") else len(line) - 1
        if length > self.max_line:
            result.line_too_long = True
            return
        fault = line_fault(line)
        if fault is not None:
            result.fault = fault
            return
        if result.too_big:
            return
        if not result.eight_bit and not line.isascii():
            result.eight_bit = True
        result.size += length + 2
        if result.size > self.max_size:
            result.too_big = True
            return
        self.write(line)

    def too_long(self) -> None:
        """A line over the limit was dropped unseen (as ``line`` would count it)."""
        if self.result.fault is None:
            self.result.line_too_long = True

    def block(self, block: bytes) -> None:
        """LF-terminated lines, none of them starting with "." (same as line by line)."""
        result = self.result
        if result.line_too_long or result.fault is not None:
            return  # nothing that follows can change the result
        n = len(block)
        # The common block: CRLF only (no bare CR or LF, no NUL), no line too long,
        # within the size: written as it came (one write per chunk, not per line).
        if (
            block.count(b"\n") == block.count(b"\r\n") == block.count(b"\r")
            and b"\x00" not in block
            and (n <= self.max_line + 2 or max(map(len, block.split(b"\n"))) <= self.max_line + 1)
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
    deadline: float | None = None,
) -> DataResult:
    """Read DATA until <CRLF>.<CRLF> into *sink* (RFC 5321 §4.5.2 dot-unstuffing).

    Reads in chunks, never past the final ``.CRLF``: what follows (pipelined
    commands) stays in *reader*. The reader's limit must be at least
    ``max_line + 2`` (the server uses exactly that). Raises TimeoutError when no
    chunk arrives within *line_timeout*, and at *deadline* (loop time: the
    session's end) however the data arrives.
    """
    result = DataResult()
    loop = asyncio.get_running_loop()
    # One timeout moved forward as chunks arrive (at most once a second), not a
    # wait_for task per read.
    async with asyncio.timeout(None) as timer:
        return await _read_data(reader, _Sink(sink, result, max_size, max_line), timer,
                                loop, line_timeout, deadline)  # fmt: skip


async def _read_data(
    reader: ByteReader,
    out: _Sink,
    timer: asyncio.Timeout,
    loop: asyncio.AbstractEventLoop,
    line_timeout: float,
    deadline: float | None,
) -> DataResult:
    # The end of data is the first <CRLF>.<CRLF> (RFC 5321 §4.1.1.4), so
    # read_chunk(b"\r\n.\r\n") returns the data before it in one piece (or what
    # is buffered, without splitting the marker), never past it. Every "." after
    # a CRLF starts a line and is removed (RFC 5321 §4.5.2, one replace per
    # chunk); a "." after a bare LF or CR is content (and the bare line end a
    # fault). Only DATA's own start, right after the DATA command's CRLF, needs
    # a look (a peek: nothing consumed) at its first bytes.
    result = out.result
    read_chunk = reader.read_chunk
    carry = b""  # start of a line whose LF has not arrived
    skipping = False  # in a line already known to be too long: drop up to its LF
    carry_max = out.max_line + 1  # longer: too long, whatever its end
    unstuff_first = False  # the next chunk starts a line after a CRLF
    moved = -1.0

    def move_timer() -> None:
        nonlocal moved
        now = loop.time()
        if now - moved >= 1.0:
            until = now + line_timeout
            timer.reschedule(until if deadline is None else min(until, deadline))
            moved = now

    move_timer()
    if await reader.peek(1) == b".":
        await reader.readexactly(1)
        if await reader.peek(2) == b"\r\n":
            await reader.readexactly(2)
            return result  # an empty message
    while True:
        move_timer()
        try:
            chunk, end = await read_chunk(b"\r\n.\r\n")
            if end:
                chunk = chunk[:-3]  # the CRLF ending the last line stays
        except asyncio.IncompleteReadError as exc:
            chunk, end = exc.partial, False
            result.eof = True
        if unstuff_first:
            unstuff_first = False
            if chunk[:1] == b".":
                chunk = chunk[1:]
        data = carry + chunk if carry else chunk
        # A line start after this chunk's last CRLF is in the next one.
        next_unstuff = data.endswith(b"\r\n")
        if b"\r\n." in data:
            data = data.replace(b"\r\n.", b"\r\n")
        cut = data.rfind(b"\n") + 1
        block, carry = data[:cut], data[cut:]
        if skipping and block:
            # The too long line ends at the first LF.
            block = block[block.find(b"\n") + 1 :]
            skipping = False
            out.too_long()
        if block:
            out.block(block)
        unstuff_first = next_unstuff
        if end or result.eof:
            return result
        if len(carry) > carry_max:
            skipping = True
            carry = b""
