"""Message data for DATA: CRLF line endings and dot-stuffing (RFC 5321 §4.5.2),
streamed in chunks with bounded memory."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

CHUNK = 64 * 1024
# A line without line end longer than this is passed on in pieces.
MAX_PENDING = 64 * 1024


class DotStuffer:
    """Turns message bytes into the DATA stream.

    Bare LF becomes CRLF; a line starting with "." gets another "." in front.
    ``feed`` returns the bytes ready to send; ``finish`` the rest, a final CRLF
    when the message did not end with a line end, and the ".CRLF" terminator.
    """

    def __init__(self) -> None:
        self._pending = b""  # incomplete last line
        self._bol = True  # _pending starts at the beginning of a line

    def feed(self, chunk: bytes) -> bytes:
        buf = self._pending + chunk
        cut = buf.rfind(b"\n")
        if cut < 0:
            self._pending = buf
            if len(buf) > MAX_PENDING:
                return self._flush_partial()
            return b""
        complete, self._pending = buf[: cut + 1], buf[cut + 1 :]
        lines = complete.split(b"\n")[:-1]
        out = []
        for i, line in enumerate(lines):
            if line.endswith(b"\r"):
                line = line[:-1]
            if line.startswith(b".") and (i > 0 or self._bol):
                line = b"." + line
            out.append(line)
        self._bol = True
        data = b"\r\n".join(out) + b"\r\n"
        if len(self._pending) > MAX_PENDING:
            data += self._flush_partial()
        return data

    def _flush_partial(self) -> bytes:
        """Pass on most of a long line without line end (keeps a trailing CR back)."""
        keep = 1 if self._pending.endswith(b"\r") else 0
        part = self._pending[: len(self._pending) - keep]
        self._pending = self._pending[len(part) :]
        if self._bol and part.startswith(b"."):
            part = b"." + part
        if part:
            self._bol = False
        return part

    def finish(self) -> bytes:
        tail = b""
        if self._pending:
            line = self._pending
            if line.endswith(b"\r"):
                line = line[:-1]
            if self._bol and line.startswith(b"."):
                line = b"." + line
            tail = line + b"\r\n"
            self._pending = b""
        elif not self._bol:
            tail = b"\r\n"
        self._bol = True
        return tail + b".\r\n"


def stuffed_chunks(fp: BinaryIO, chunk_size: int = CHUNK) -> Iterator[bytes]:
    """The complete DATA stream of a file, terminator included, in chunks."""
    stuffer = DotStuffer()
    while True:
        chunk = fp.read(chunk_size)
        if not chunk:
            break
        out = stuffer.feed(chunk)
        if out:
            yield out
    yield stuffer.finish()


def stuff(data: bytes) -> bytes:
    """Dot-stuff a whole message (for tests and small messages)."""
    s = DotStuffer()
    return s.feed(data) + s.finish()


def unstuff(stream: bytes) -> bytes:
    """Reverse of ``stuff`` (what a receiver does, RFC 5321 §4.5.2): the message
    with CRLF line ends, without the terminator."""
    if stream == b".\r\n":
        return b""
    if not stream.endswith(b"\r\n.\r\n"):
        raise ValueError("no <CRLF>.<CRLF> terminator")
    lines = stream[:-3].split(b"\r\n")
    return b"\r\n".join(line[1:] if line.startswith(b".") else line for line in lines)
