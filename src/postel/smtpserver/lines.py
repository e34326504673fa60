"""Bounded reading of SMTP command lines and DATA (RFC 5321 §4.5.2, §4.5.3.1).

Lines longer than the limit are consumed up to their end and reported, so the
session stays in sync with the client. DATA is dot-unstuffed, its line ends are
normalised to CRLF, and it is written to a file as it arrives (bounded memory);
once the size limit is passed the rest is read and discarded.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import BinaryIO


class TooLong:
    """Marker for a line longer than the limit (already consumed)."""


TOO_LONG = TooLong()


async def read_line(reader: asyncio.StreamReader) -> bytes | TooLong | None:
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


async def read_data(
    reader: asyncio.StreamReader,
    sink: BinaryIO,
    *,
    max_size: int,
    max_line: int,
    line_timeout: float,
) -> DataResult:
    """Read DATA until ``.CRLF`` into *sink* (RFC 5321 §4.5.2 dot-unstuffing).

    Raises TimeoutError when a line does not arrive within *line_timeout*.
    """
    result = DataResult()
    loop = asyncio.get_running_loop()
    # One timeout moved forward as lines arrive (at most once a second), not a
    # wait_for task per line: large messages have thousands of lines.
    async with asyncio.timeout(None) as deadline:
        return await _read_data(reader, sink, result, deadline, loop, max_size, max_line,
                                line_timeout)  # fmt: skip


async def _read_data(
    reader: asyncio.StreamReader,
    sink: BinaryIO,
    result: DataResult,
    deadline: asyncio.Timeout,
    loop: asyncio.AbstractEventLoop,
    max_size: int,
    max_line: int,
    line_timeout: float,
) -> DataResult:
    moved = -1.0
    readuntil = reader.readuntil
    write = sink.write
    crlf = b"\r\n"
    # The common line (CRLF-terminated, not too long) is written as it came: one
    # write, no copies; this loop runs once per line of every message.
    while True:
        now = loop.time()
        if now - moved >= 1.0:
            deadline.reschedule(now + line_timeout)
            moved = now
        try:
            line = await readuntil(b"\n")
        except asyncio.IncompleteReadError:
            result.eof = True
            return result
        except asyncio.LimitOverrunError as exc:
            await reader.read(max(exc.consumed, 1))
            if await read_line(reader) is None:  # the rest of the long line
                result.eof = True
                return result
            result.line_too_long = True
            continue
        if line[0] == 46:  # "."
            if line == b".\r\n" or line == b".\n":
                return result
            line = line[1:]
        if line.endswith(crlf):
            length = len(line) - 2
        else:
            line = line[:-1] + crlf  # bare LF (a CR before it would have made CRLF)
            length = len(line) - 2
        if length > max_line:
            result.line_too_long = True
            continue
        if result.too_big or result.line_too_long:
            continue
        if not result.eight_bit and not line.isascii():
            result.eight_bit = True
        result.size += length + 2
        if result.size > max_size:
            result.too_big = True
            continue
        write(line)
