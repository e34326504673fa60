"""Unwrapping DMARC report input: gzip, zip and report e-mails (RFC 7489 §7.2.1.1).

All decompression is bounded, so zip and gzip bombs are rejected early.
"""

from __future__ import annotations

import email
import email.message
import email.policy
import io
import re
import zipfile
import zlib
from dataclasses import dataclass

from postel.dmarcrpt.errors import InputError, LimitError

GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"
_CHUNK = 64 * 1024
_HEADER_LINE_RE = re.compile(rb"^[!-9;-~]{1,200}:")
_MAX_ZIP_MEMBERS = 16

_XML_TYPES = ("text/xml", "application/xml")
_ARCHIVE_TYPES = (
    "application/gzip",
    "application/x-gzip",
    "application/zip",
    "application/x-zip-compressed",
    "application/x-zip",
)
_NAME_SUFFIXES = (".xml", ".xml.gz", ".gz", ".gzip", ".zip")


def is_gzip(data: bytes) -> bool:
    return data[:2] == GZIP_MAGIC


def is_zip(data: bytes) -> bool:
    return data[:4] == ZIP_MAGIC


def looks_like_message(data: bytes) -> bool:
    """Whether data starts like an RFC 5322 message (a header field line)."""
    return _HEADER_LINE_RE.match(data.lstrip(b"\r\n")) is not None


def gunzip_bounded(data: bytes, max_size: int) -> bytes:
    """Decompress gzip data (all members), never producing more than max_size bytes."""
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


def unzip_bounded(data: bytes, max_size: int) -> bytes:
    """The one XML member of a zip archive, read in bounded chunks."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = [i for i in zf.infolist() if not i.is_dir()]
            if len(infos) > _MAX_ZIP_MEMBERS:
                raise LimitError(f"zip archive has {len(infos)} members, at most 1 XML expected")
            xml = [i for i in infos if i.filename.lower().endswith(".xml")]
            if len(xml) != 1:
                if len(infos) == 1:
                    xml = infos
                else:
                    names = ", ".join(repr(i.filename) for i in infos[:5])
                    raise InputError(
                        f"zip archive must hold exactly one XML member, found {len(xml)} ({names})"
                    )
            info = xml[0]
            if info.file_size > max_size:
                raise LimitError(
                    f"zip member {info.filename!r} is {info.file_size} bytes, more than {max_size}"
                )
            out = bytearray()
            with zf.open(info) as f:
                while True:
                    chunk = f.read(_CHUNK)
                    if not chunk:
                        break
                    out += chunk
                    if len(out) > max_size:
                        raise LimitError(
                            f"zip member {info.filename!r} decompresses to more than "
                            f"{max_size} bytes"
                        )
            return bytes(out)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError) as e:
        raise InputError(f"invalid zip archive: {e}") from None
    except (NotImplementedError, RuntimeError, ValueError, OSError) as e:
        raise InputError(f"unsupported zip archive: {e}") from None


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
    """Parts of a message that may hold an aggregate report (RFC 7489 §7.2.1.1)."""
    try:
        msg = email.message_from_bytes(data, policy=email.policy.compat32)
        parts = list(msg.walk())
    except (ValueError, TypeError, LookupError, IndexError) as e:
        raise InputError(f"cannot parse message: {e}") from None
    out: list[Attachment] = []
    for i, part in enumerate(parts):
        if part.is_multipart():
            continue
        ctype = part.get_content_type().lower()
        fname = _filename(part)
        if not (
            ctype in _XML_TYPES or ctype in _ARCHIVE_TYPES or fname.lower().endswith(_NAME_SUFFIXES)
        ):
            continue
        try:
            payload = part.get_payload(decode=True)
        except (ValueError, TypeError, LookupError) as e:
            raise InputError(f"message part {i}: cannot decode: {e}") from None
        if isinstance(payload, bytes):
            out.append(Attachment(i, ctype, fname, payload))
    return out
