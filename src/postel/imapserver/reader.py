"""Reading one command from the connection: lines and literals (RFC 9051 §4.3,
RFC 7888 LITERAL+ / LITERAL-), within the configured limits."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from postel.errors import LimitError
from postel.imapserver.literal import Part, SpilledLiteral

# "~{n}" is a literal8 (RFC 3516 §4.1); its "~" stays in the line text for the parser.
_LITERAL = re.compile(rb"~?\{(\d{1,12})(\+?)\}\r?\n\Z")
MEMORY_LITERAL = 64 * 1024  # larger literals go to a file in the data dir's tmp/
MAX_LITERALS = 100  # literals in one command


class LineTooLong(LimitError):
    """A line longer than the limit: the rest of it was read and dropped."""


class LiteralTooBig(LimitError):
    """A literal above the limit (*size*), or one that takes the command's
    literals above their total limit. A synchronizing one was not sent (the
    session answers NO and goes on); a non-synchronizing one (RFC 7888 §4) is
    on its way, so the session says BYE and closes."""

    def __init__(self, size: int, synchronizing: bool, tag: bytes, what: str = "") -> None:
        super().__init__(what or f"literal of {size} bytes")
        self.size = size
        self.synchronizing = synchronizing
        self.tag = tag


class Stream(Protocol):
    """What is read from: asyncio.StreamReader, or its inflated form under
    COMPRESS (postel.imapserver.compress)."""

    async def readuntil(self, separator: bytes = ...) -> bytes: ...

    async def readexactly(self, n: int) -> bytes: ...

    async def read(self, n: int = ...) -> bytes: ...


@dataclass
class Limits:
    max_line: int
    max_literal: int  # APPENDLIMIT
    spill_dir: Path
    max_total: int = 0  # all literals of one command (MULTIAPPEND); 0: max_literal

    @property
    def total(self) -> int:
        return max(self.max_total, self.max_literal)


async def read_line(reader: Stream, max_line: int) -> bytes:
    """One line with its line end; LineTooLong (after reading all of it) when over
    *max_line*; EOFError at the end of the stream."""
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.LimitOverrunError as exc:
        await reader.readexactly(exc.consumed)
        while True:
            try:
                await reader.readuntil(b"\n")
                break
            except asyncio.LimitOverrunError as more:
                await reader.readexactly(more.consumed)
        raise LineTooLong(f"command line longer than {max_line} bytes") from None
    except asyncio.IncompleteReadError:
        raise EOFError from None
    if len(line) > max_line:
        raise LineTooLong(f"command line longer than {max_line} bytes")
    return line


async def _read_literal(reader: Stream, size: int, limits: Limits) -> bytes | SpilledLiteral:
    if size <= MEMORY_LITERAL:
        try:
            return await reader.readexactly(size)
        except asyncio.IncompleteReadError:
            raise EOFError from None
    limits.spill_dir.mkdir(parents=True, exist_ok=True)
    path = limits.spill_dir / f"imap-literal-{os.getpid()}-{os.urandom(8).hex()}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        left = size
        while left:
            chunk = await reader.read(min(left, 256 * 1024))
            if not chunk:
                raise EOFError
            os.write(fd, chunk)  # a regular file: writes are complete
            left -= len(chunk)
        await asyncio.to_thread(os.fsync, fd)
    except BaseException:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise
    os.close(fd)
    return SpilledLiteral(path, size)


async def read_command(
    reader: Stream,
    limits: Limits,
    go_ahead: Callable[[], Awaitable[None]],
) -> list[Part]:
    """The parts of one command; *go_ahead* sends "+ " before a synchronizing
    literal is read. Spilled literals are removed on errors."""
    parts: list[Part] = []
    total = 0
    literals = 0  # bytes of this command's literals so far
    try:
        while True:
            line = await read_line(reader, limits.max_line)
            total += len(line)
            if total > limits.max_line * 4:
                raise LineTooLong(f"command of more than {limits.max_line * 4} bytes")
            m = _LITERAL.search(line)
            if m is None:
                parts.append(line.rstrip(b"\r\n"))
                return parts
            text = line[: m.start()]
            if line[m.start() : m.start() + 1] == b"~":
                text += b"~"
            size, nonsync = int(m.group(1)), bool(m.group(2))
            literals += size
            if (
                size > limits.max_literal
                or literals > limits.total
                or len(parts) >= 2 * MAX_LITERALS
            ):
                tag = bytes(parts[0]) if parts and isinstance(parts[0], bytes) else text
                if size > limits.max_literal:
                    what = f"literal of {size} bytes exceeds {limits.max_literal}"
                elif literals > limits.total:
                    what = f"literals of one command exceed {limits.total} bytes in total"
                else:
                    what = f"more than {MAX_LITERALS} literals in one command"
                raise LiteralTooBig(size, not nonsync, tag.split(b" ", 1)[0], what)
            if not nonsync:
                await go_ahead()
            parts.append(text)
            parts.append(await _read_literal(reader, size, limits))
    except BaseException:
        for p in parts:
            if isinstance(p, SpilledLiteral):
                p.discard()
        raise
