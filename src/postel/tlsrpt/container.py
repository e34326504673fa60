"""Unwrapping report input: gzip (bounded) and report e-mails (RFC 8460 §5.3)."""

from __future__ import annotations

import email
import email.message
import email.policy
import re
import zlib
from dataclasses import dataclass

from postel.tlsrpt.errors import InputError, LimitError

GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 64 * 1024
_HEADER_LINE_RE = re.compile(rb"^[!-9;-~]{1,200}:")

# RFC 8460 §5.3 media types, then generic ones seen in the wild.
_REPORT_TYPES = ("application/tlsrpt+gzip", "application/tlsrpt+json")
_GENERIC_TYPES = (
    "application/gzip",
    "application/x-gzip",
    "application/json",
    "application/octet-stream",
    "text/json",
    "text/plain",
)


def is_gzip(data: bytes) -> bool:
    return data[:2] == GZIP_MAGIC


def gunzip_bounded(data: bytes, max_size: int) -> bytes:
    """Decompress gzip data (all members) without ever producing more than max_size bytes."""
    out = bytearray()
    rest = data
    while rest:
        d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        buf = rest
        try:
            while True:
                chunk = d.decompress(buf, _CHUNK)
                out += chunk
                if len(out) > max_size:
                    raise LimitError(f"gzip data decompresses to more than {max_size} bytes")
                buf = d.unconsumed_tail
                if d.eof or (not buf and not chunk):
                    break
        except zlib.error as e:
            offset = len(data) - len(rest)
            raise InputError(f"invalid gzip data (member at offset {offset}): {e}") from None
        if not d.eof:
            raise InputError("truncated gzip data")
        rest = d.unused_data
        if rest.strip(b"\x00") == b"":
            break
    return bytes(out)


def looks_like_message(data: bytes) -> bool:
    """Whether data starts like an RFC 5322 message (a header field line)."""
    return _HEADER_LINE_RE.match(data.lstrip(b"\r\n")) is not None


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


def report_parts(data: bytes) -> list[Attachment]:
    """The parts of a message that may hold a TLS report, best candidates first."""
    try:
        msg = email.message_from_bytes(data, policy=email.policy.compat32)
        parts = list(msg.walk())
    except (ValueError, TypeError, LookupError, IndexError) as e:
        raise InputError(f"cannot parse message: {e}") from None
    preferred: list[Attachment] = []
    generic: list[Attachment] = []
    for i, part in enumerate(parts):
        if part.is_multipart():
            continue
        ctype = part.get_content_type().lower()
        fname = _filename(part)
        lname = fname.lower()
        named_report = lname.endswith((".json", ".json.gz", ".gz"))
        if ctype in _REPORT_TYPES:
            target = preferred
        elif named_report or (ctype in _GENERIC_TYPES[:4]):
            target = generic
        else:
            continue
        try:
            payload = part.get_payload(decode=True)
        except (ValueError, TypeError, LookupError) as e:
            raise InputError(f"message part {i}: cannot decode: {e}") from None
        if not isinstance(payload, bytes):
            continue
        target.append(Attachment(i, ctype, fname, payload))
    return preferred + generic
