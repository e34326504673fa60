"""The MIME structure of a message with the byte offsets of every part: pure.

Parsed once from the message bytes (a bytes object or an mmap of the message
file, so a large message is never copied into memory); BODY[1.2],
BODY[HEADER.FIELDS (...)], BODY[TEXT] and BODYSTRUCTURE are then served from
byte ranges (RFC 9051 §6.4.5, RFC 2045/2046). The structure is plain data
(:func:`dataclasses.asdict`), so it can be stored next to the message."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.message import Message as EmailMessage
from email.policy import compat32
from typing import Protocol

from postel.imapserver.errors import IMAPServerError
from postel.imapserver.fetchatt import Section

MAX_DEPTH = 20  # nesting of multiparts and message/rfc822
MAX_PARTS = 5000  # parts of one message that are described
_CHUNK = 1 << 20


class Buffer(Protocol):
    def find(self, sub: bytes, start: int = ..., end: int = ...) -> int: ...
    def __getitem__(self, key: slice) -> bytes: ...
    def __len__(self) -> int: ...


@dataclass
class Part:
    """One MIME entity: header at [start, body_start), body at [body_start, end)."""

    start: int
    body_start: int
    end: int
    maintype: str = "text"
    subtype: str = "plain"
    params: list[tuple[str, str]] = field(default_factory=list)
    content_id: str | None = None
    description: str | None = None
    encoding: str = "7BIT"
    disposition: str | None = None
    disposition_params: list[tuple[str, str]] = field(default_factory=list)
    language: str | None = None
    location: str | None = None
    md5: str | None = None
    lines: int = 0  # body lines of text/* and message/rfc822 parts
    children: list[Part] = field(default_factory=list)  # parts of a multipart
    message: Part | None = None  # the message inside a message/rfc822 part

    @property
    def size(self) -> int:
        return self.end - self.body_start

    @property
    def is_multipart(self) -> bool:
        return self.maintype == "multipart"


def header_end(buf: Buffer, start: int, end: int) -> int:
    """Offset just after the blank line ending the header at *start* (or *end*)."""
    if buf[start : min(start + 2, end)] == b"\r\n":
        return start + 2
    if buf[start : min(start + 1, end)] == b"\n":
        return start + 1
    pos = buf.find(b"\n\r\n", start, end)
    pos2 = buf.find(b"\n\n", start, end)
    if pos < 0 and pos2 < 0:
        return end
    if pos2 >= 0 and (pos < 0 or pos2 < pos):
        return pos2 + 2
    return pos + 3


_FIELD = re.compile(r"([!-9;-~]+)[ \t]*:")  # field-name (RFC 5322 §3.6.8) and colon


def parse_header(data: bytes) -> EmailMessage:
    """The fields of a header block (RFC 5322 §2.2), unfolded lines kept as
    sent, in an email Message (compat32) for its parameter parsing. Lines that
    are not fields are skipped (the email package's parser, which does the
    same, is ten times slower)."""
    msg = EmailMessage(policy=compat32)
    # 8-bit bytes become surrogates, as the email package keeps them
    # (encode.py turns them back into the bytes sent).
    text = data.decode("ascii", "surrogateescape")
    name = ""
    value: list[str] = []
    for line in text.split("\n"):
        line = line.removesuffix("\r")
        if line[:1] in (" ", "\t"):
            if name:
                value.append(line)
            continue
        if name:
            msg.set_raw(name, "\r\n".join(value).lstrip(" \t"))
            name = ""
        if not line:
            break
        m = _FIELD.match(line)
        if m is not None:
            name, value = m.group(1), [line[m.end() :]]
    if name:
        msg.set_raw(name, "\r\n".join(value).lstrip(" \t"))
    return msg


def count_lines(buf: Buffer, start: int, end: int) -> int:
    n = 0
    for pos in range(start, end, _CHUNK):
        n += buf[pos : min(pos + _CHUNK, end)].count(b"\n")
    if end > start and buf[end - 1 : end] != b"\n":
        n += 1  # a last line without line end counts (as other servers do)
    return n


def _params(msg: EmailMessage, header: str) -> list[tuple[str, str]]:
    if header not in msg:
        return []
    out: list[tuple[str, str]] = []
    for key, value in (msg.get_params(header=header) or [])[1:]:
        if isinstance(value, tuple):  # RFC 2231: keep it as sent
            value = value[2]
        out.append((key.upper(), str(value)))
    return out


def _value(msg: EmailMessage, name: str) -> str | None:
    """A header field's value as text (8-bit bytes come as an email Header)."""
    value = msg.get(name)
    return None if value is None else str(value)


class _Counter:
    def __init__(self) -> None:
        self.parts = 0


def _parse(buf: Buffer, start: int, end: int, default: str, depth: int, count: _Counter) -> Part:
    body_start = header_end(buf, start, end)
    msg = parse_header(buf[start:body_start])
    count.parts += 1
    part = Part(start, body_start, end)
    ctype = msg.get_content_type() if "content-type" in msg else default
    maintype, _, subtype = ctype.partition("/")
    part.maintype, part.subtype = maintype.lower(), subtype.lower()
    part.params = _params(msg, "content-type")
    if "content-type" not in msg and ctype == "text/plain":
        part.params = [("CHARSET", "us-ascii")]
    part.content_id = _value(msg, "content-id")
    part.description = _value(msg, "content-description")
    part.encoding = (_value(msg, "content-transfer-encoding") or "7BIT").strip().upper()
    part.md5 = _value(msg, "content-md5")
    if "content-disposition" in msg:
        part.disposition = msg.get_content_disposition()
        part.disposition_params = _params(msg, "content-disposition")
    part.language = _value(msg, "content-language")
    part.location = _value(msg, "content-location")
    too_deep = depth >= MAX_DEPTH or count.parts >= MAX_PARTS
    if part.is_multipart and not too_deep:
        boundary = msg.get_param("boundary", header="content-type")
        if isinstance(boundary, str) and boundary:
            child_default = "message/rfc822" if part.subtype == "digest" else "text/plain"
            for a, b in _split(buf, body_start, end, boundary.encode("utf-8", "replace")):
                if count.parts >= MAX_PARTS:
                    break
                part.children.append(_parse(buf, a, b, child_default, depth + 1, count))
        if not part.children:  # no boundary found: one empty text part (as Dovecot)
            part.children.append(Part(body_start, body_start, body_start))
    elif part.maintype == "message" and part.subtype in ("rfc822", "global") and not too_deep:
        part.message = _parse(buf, body_start, end, "text/plain", depth + 1, count)
        part.lines = count_lines(buf, body_start, end)
    elif part.maintype == "text":
        part.lines = count_lines(buf, body_start, end)
    return part


def _split(buf: Buffer, start: int, end: int, boundary: bytes) -> list[tuple[int, int]]:
    """The [start, end) of each body part between the delimiter lines (RFC 2046 §5.1.1)."""
    delim = b"--" + boundary
    lines: list[tuple[int, int, bool]] = []  # (line start, after the line, closing)
    pos = start
    while pos < end:
        if buf[pos : pos + len(delim)] == delim and (pos == start or buf[pos - 1 : pos] == b"\n"):
            after = pos + len(delim)
            eol = buf.find(b"\n", after, end)
            nxt = end if eol < 0 else eol + 1
            rest = buf[after : min(nxt, after + 200)]
            closing = rest.startswith(b"--")
            # Only white space may follow the boundary (RFC 2046 §5.1.1).
            if closing or not rest.strip():
                lines.append((pos, nxt, closing))
                if closing:
                    break
                pos = nxt
                continue
            pos = after
        found = buf.find(b"\n" + delim, pos, end)
        if found < 0:
            break
        pos = found + 1
    parts: list[tuple[int, int]] = []
    if not lines:  # no delimiter line at all
        return parts
    for (_, first, closing), following in zip(lines, [*lines[1:], (end, end, True)], strict=True):
        if closing:
            break
        stop = following[0]
        # The CRLF before a delimiter belongs to the delimiter.
        if stop > first and buf[stop - 1 : stop] == b"\n":
            stop -= 1
            if stop > first and buf[stop - 1 : stop] == b"\r":
                stop -= 1
        parts.append((first, max(first, stop)))
    return parts


def parse_structure(buf: Buffer) -> Part:
    """The structure of the message in *buf*."""
    return _parse(buf, 0, len(buf), "text/plain", 0, _Counter())


class NoSuchPart(IMAPServerError):
    """A section names a part the message does not have: an empty answer (§6.4.5)."""


def find_part(root: Part, numbers: tuple[int, ...]) -> Part:
    """The part named by *numbers* (RFC 9051 §6.4.5: a non-multipart message has
    part 1; parts of a message/rfc822 part are those of the message inside)."""
    node = root
    for n in numbers:
        if node.message is not None:
            node = node.message
        if node.is_multipart:
            if not 1 <= n <= len(node.children):
                raise NoSuchPart(str(n))
            node = node.children[n - 1]
        elif n != 1:
            raise NoSuchPart(str(n))
    return node


def section_range(root: Part, section: Section) -> tuple[int, int]:
    """The byte range of *section* (before HEADER.FIELDS filtering)."""
    if not section.part:
        node = root
    else:
        node = find_part(root, section.part)
    text = section.text
    if text == "MIME":
        return node.start, node.body_start
    if not text:
        if not section.part:
            return node.start, node.end
        return node.body_start, node.end
    if section.part:  # HEADER/TEXT of a part: of the message inside it
        if node.message is None:
            raise NoSuchPart(".".join(map(str, section.part)))
        node = node.message
    if text == "TEXT":
        return node.body_start, node.end
    return node.start, node.body_start


def filter_header(header: bytes, fields: tuple[str, ...], keep: bool) -> bytes:
    """Header lines whose names are (*keep*) or are not in *fields*, then the blank line."""
    wanted = {f.lower() for f in fields}
    out: list[bytes] = []
    taking = False
    for line in header.splitlines(keepends=True):
        if line in (b"\r\n", b"\n"):
            break
        if line[:1] in (b" ", b"\t"):
            if taking:
                out.append(line)
            continue
        name = line.split(b":", 1)[0].strip().decode("ascii", "replace").lower()
        taking = (name in wanted) == keep
        if taking:
            out.append(line)
    out.append(b"\r\n")
    return b"".join(out)
