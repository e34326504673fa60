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

    Every line end of the message (CRLF, a bare LF or a bare CR) is sent as
    CRLF and NUL bytes are dropped (RFC 5321 §2.3.8, RFC 2045 §2.8): a receiver
    that takes a bare CR or LF for a line end, or skips a NUL, must not find an
    end of data inside the message (SMTP smuggling, CVE-2023-51764 class). A
    line starting with "." gets another "." in front (RFC 5321 §4.5.2).
    ``feed`` returns the bytes ready to send; ``finish`` the rest, a final CRLF
    when the message did not end with a line end, and the ".CRLF" terminator.
    """

    def __init__(self) -> None:
        self._pending = b""  # incomplete last line (no CR, LF or NUL in it)
        self._cr = False  # the last chunk ended with a CR (sent): a leading LF is its
        self._bol = True  # _pending starts at the beginning of a line

    def feed(self, chunk: bytes) -> bytes:
        if b"\x00" in chunk:
            chunk = chunk.replace(b"\x00", b"")
        if not chunk:
            return b""
        if self._cr:
            self._cr = False
            if chunk.startswith(b"\n"):
                chunk = chunk[1:]  # the CR of this CRLF was already sent as one
        if b"\r" in chunk:
            self._cr = chunk.endswith(b"\r")
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
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
            if line.startswith(b".") and (i > 0 or self._bol):
                line = b"." + line
            out.append(line)
        self._bol = True
        data = b"\r\n".join(out) + b"\r\n"
        if len(self._pending) > MAX_PENDING:
            data += self._flush_partial()
        return data

    def _flush_partial(self) -> bytes:
        """Pass on a long line without line end."""
        part, self._pending = self._pending, b""
        if self._bol and part.startswith(b"."):
            part = b"." + part
        if part:
            self._bol = False
        return part

    def finish(self) -> bytes:
        tail = b""
        if self._pending:
            line = self._pending
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
