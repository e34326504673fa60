"""Unwrapping received report input: bounded gunzip and report parts of e-mails.

Shared by postel.dmarcrpt (RFC 7489 §7.2.1.1) and postel.tlsrpt (RFC 8460 §5.3).
The functions raise the caller's own errors, given as :class:`Errors`, so each
package keeps its one exception hierarchy.
"""

from __future__ import annotations

import email
import email.message
import email.policy
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 64 * 1024
# Lines starting with "--": an upper bound on MIME boundary lines (RFC 2046 §5.1.1).
# A report message has a few parts; parsing a thousand costs several times the message.
MAX_BOUNDARY_LINES = 200
_HEADER_LINE_RE = re.compile(rb"^[!-9;-~]{1,200}:")


@dataclass(frozen=True)
class Errors:
    """The exception classes to raise: bad input, and input over a size limit."""

    input: type[Exception]
    limit: type[Exception]


def is_gzip(data: bytes) -> bool:
    return data[:2] == GZIP_MAGIC


def looks_like_message(data: bytes) -> bool:
    """Whether data starts like an RFC 5322 message (a header field line)."""
    return _HEADER_LINE_RE.match(data.lstrip(b"\r\n")) is not None


def gunzip_chunks(
    data: bytes, max_size: int, errors: Errors, trailing: list[int] | None = None
) -> Iterator[bytes]:
    """Decompress gzip data (all members) chunk by chunk, never past max_size bytes.

    The chunks come as they are decompressed, so a consumer can stop early and
    the whole output never has to be held at once. Bytes after the last member
    that do not start another one (a CRLF some senders add) are an error,
    unless *trailing* is given (lenient reading): then their count is appended
    to it and they are ignored.
    """
    total = 0
    rest = data
    while rest:
        if rest is not data and trailing is not None and not rest.startswith(GZIP_MAGIC):
            trailing.append(len(rest))
            break
        d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        buf = rest
        while True:
            try:
                chunk = d.decompress(buf, CHUNK)
            except zlib.error as e:
                offset = len(data) - len(rest)
                raise errors.input(f"invalid gzip data (member at offset {offset}): {e}") from None
            total += len(chunk)
            if total > max_size:
                raise errors.limit(f"gzip data decompresses to more than {max_size} bytes")
            if chunk:
                yield chunk
            buf = d.unconsumed_tail
            if d.eof or (not buf and not chunk):
                break
        if not d.eof:
            raise errors.input("truncated gzip data")
        rest = d.unused_data
        if rest.strip(b"\x00") == b"":
            break


def gunzip_bounded(data: bytes, max_size: int, errors: Errors) -> bytes:
    """Decompress gzip data (all members), never producing more than max_size bytes."""
    return b"".join(gunzip_chunks(data, max_size, errors))


def slices(data: bytes, size: int = CHUNK) -> Iterator[bytes]:
    """data in pieces of at most *size* bytes, for parsers fed incrementally."""
    view = memoryview(data)
    for i in range(0, len(data), size):
        yield bytes(view[i : i + size])


@dataclass
class Attachment:
    """A candidate report part of a message."""

    index: int
    content_type: str
    filename: str
    data: bytes

    def describe(self) -> str:
        name = f" {self.filename!r}" if self.filename else ""
        return f"message part {self.index} ({self.content_type}{name})"


def _filename(part: email.message.Message) -> str:
    try:
        name = part.get_filename()
    except (ValueError, TypeError, LookupError):
        return ""
    return name if isinstance(name, str) else ""


# rank(content_type, filename) -> None to skip the part, else its rank (lower first).
Rank = Callable[[str, str], int | None]


def report_parts(
    data: bytes, rank: Rank, errors: Errors, max_parts: int | None = None
) -> list[Attachment]:
    """The decoded leaf parts of a message that *rank* accepts, by rank, then in order.

    *rank* is given the lower-cased content type and the filename ("" if none).
    Only the best *max_parts* are decoded and returned, and a message with
    more than MAX_BOUNDARY_LINES possible boundaries is refused before it is
    parsed: a message with a thousand parts costs no more than one with a few.
    """
    boundaries = data.count(b"\n--") + data.startswith(b"--")
    if boundaries > MAX_BOUNDARY_LINES:
        raise errors.limit(
            f"message has {boundaries} lines starting with '--' (MIME part boundaries), "
            f"more than {MAX_BOUNDARY_LINES}"
        )
    try:
        msg = email.message_from_bytes(data, policy=email.policy.compat32)
        parts = list(msg.walk())
    except (ValueError, TypeError, LookupError, IndexError) as e:
        raise errors.input(f"cannot parse message: {e}") from None
    ranked: list[tuple[int, int, str, str, email.message.Message]] = []
    for i, part in enumerate(parts):
        if part.is_multipart():
            continue
        ctype = part.get_content_type().lower()
        fname = _filename(part)
        r = rank(ctype, fname)
        if r is not None:
            ranked.append((r, i, ctype, fname, part))
    ranked.sort(key=lambda ra: ra[0])  # stable: message order within a rank
    out: list[Attachment] = []
    for _, i, ctype, fname, part in ranked[:max_parts]:
        try:
            payload = part.get_payload(decode=True)
        except (ValueError, TypeError, LookupError) as e:
            raise errors.input(f"message part {i}: cannot decode: {e}") from None
        if isinstance(payload, bytes):
            out.append(Attachment(i, ctype, fname, payload))
    return out
