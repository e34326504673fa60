"""The MIME structure of a message with the byte offsets of every part: pure.

Parsed once from the message bytes (a bytes object or an mmap of the message
file, so a large message is never copied into memory) at delivery, and kept in
the index (table message_mime, schema migration 5) in the compact, versioned
form of :func:`dump`, with the header fields ENVELOPE needs (RFC 9051 §7.5.2),
so IMAP answers ENVELOPE and BODYSTRUCTURE without reading the message file and
BODY[section] from byte ranges (RFC 2045/2046)."""

from __future__ import annotations

import functools
import json
import mmap
import os
import re
from dataclasses import dataclass, field
from email.message import Message as EmailMessage
from email.policy import compat32
from typing import BinaryIO, Protocol

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


# The stored form's version (first byte of the blob): a structure stored in
# another version is recomputed from the message file and stored again.
FORMAT = 1
# The header fields ENVELOPE is built from (RFC 9051 §7.5.2).
ENVELOPE_FIELDS = frozenset(
    {
        "date",
        "subject",
        "from",
        "sender",
        "reply-to",
        "to",
        "cc",
        "bcc",
        "in-reply-to",
        "message-id",
    }
)


# The top header's fields kept as sent next to the structure (message_mime.head),
# so that BODY.PEEK[HEADER.FIELDS (...)] of these, what mail clients ask for a
# message list, is answered without reading the message file.
HEAD_FIELDS = ENVELOPE_FIELDS | frozenset(
    {
        "references",
        "content-type",
        "priority",
        "x-priority",
        "importance",
        "list-id",
        "newsgroups",
    }
)


def header_fields(header: bytes) -> list[tuple[str, bytes]]:
    """The fields of a header block as (lower-case name, the field's lines as
    sent, continuation lines included) up to the blank line; a continuation
    line before any field belongs to none and is left out."""
    out: list[tuple[str, bytes]] = []
    name = ""
    lines: list[bytes] = []
    for line in header.splitlines(keepends=True):
        if line[:1] in _FOLDING:
            if lines:
                lines.append(line)
            continue
        if lines:
            out.append((name, lines[0] if len(lines) == 1 else b"".join(lines)))
            lines = []
        if line == b"\r\n" or line == b"\n":
            break
        colon = line.find(b":")
        name = _field_name(line if colon < 0 else line[:colon])
        lines = [line]
    if lines:
        out.append((name, b"".join(lines)))
    return out


_FOLDING = (b" ", b"\t")


@functools.lru_cache(maxsize=1024)
def _field_name(raw: bytes) -> str:
    return raw.strip().decode("ascii", "replace").lower()


def head_of(header: bytes) -> bytes:
    """The lines of the HEAD_FIELDS fields of *header* (the top header block),
    in their order, as sent."""
    return b"".join(lines for name, lines in header_fields(header) if name in HEAD_FIELDS)


@dataclass
class Structure:
    """A message's parts, and the ENVELOPE fields (name, value as sent) of its
    top header (at 0) and of each message/rfc822 part's message, by its start."""

    root: Part
    envelopes: dict[int, list[tuple[str, str]]]


def _envelope_fields(msg: EmailMessage) -> list[tuple[str, str]]:
    return [(k, str(v)) for k, v in msg.raw_items() if k.lower() in ENVELOPE_FIELDS]


def structure_of(buf: Buffer) -> Structure:
    """Parse the message in *buf*: its structure and ENVELOPE fields."""
    root = parse_structure(buf)
    envelopes = {0: _envelope_fields(parse_header(buf[0 : root.body_start]))}
    todo = [root]
    while todo:
        p = todo.pop()
        if p.message is not None:
            inner = p.message
            header = parse_header(buf[inner.start : inner.body_start])
            envelopes[inner.start] = _envelope_fields(header)
            todo.append(inner)
        todo.extend(p.children)
    return Structure(root, envelopes)


def stored_form(buf: Buffer) -> tuple[bytes, bytes]:
    """What is kept of the message in *buf*: its structure's stored form
    (:func:`dump`) and its top header's HEAD_FIELDS lines (:func:`head_of`)."""
    s = structure_of(buf)
    return dump(s), head_of(buf[0 : s.root.body_start])


def envelope_header(fields: list[tuple[str, str]]) -> EmailMessage:
    """An email Message holding *fields* as :func:`parse_header` would."""
    msg = EmailMessage(policy=compat32)
    for name, value in fields:
        msg.set_raw(name, value)
    return msg


_DEFAULTS = Part(0, 0, 0)


def _part_list(p: Part) -> list[object]:
    return [
        p.start,
        p.body_start,
        p.end,
        p.maintype,
        p.subtype,
        p.params,
        p.content_id,
        p.description,
        p.encoding,
        p.disposition,
        p.disposition_params,
        p.language,
        p.location,
        p.md5,
        p.lines,
        [_part_list(c) for c in p.children],
        None if p.message is None else _part_list(p.message),
    ]


def _part_from(v: list[object]) -> Part:
    (start, body_start, end, maintype, subtype, params, cid, desc, enc, disp, dparams,
     lang, loc, md5, lines, children, message) = v  # fmt: skip
    assert isinstance(children, list)
    assert isinstance(params, list) and isinstance(dparams, list)
    return Part(
        start=int(start),  # type: ignore[call-overload]
        body_start=int(body_start),  # type: ignore[call-overload]
        end=int(end),  # type: ignore[call-overload]
        maintype=str(maintype),
        subtype=str(subtype),
        params=[(str(a), str(b)) for a, b in params],
        content_id=None if cid is None else str(cid),
        description=None if desc is None else str(desc),
        encoding=str(enc),
        disposition=None if disp is None else str(disp),
        disposition_params=[(str(a), str(b)) for a, b in dparams],
        language=None if lang is None else str(lang),
        location=None if loc is None else str(loc),
        md5=None if md5 is None else str(md5),
        lines=int(lines),  # type: ignore[call-overload]
        children=[_part_from(c) for c in children],
        message=None if message is None else _part_from(message),  # type: ignore[arg-type]
    )


def dump(s: Structure) -> bytes:
    """The stored form: the FORMAT byte, then compact JSON (8-bit header bytes,
    kept as surrogates, are escaped by JSON and come back unchanged)."""
    data = [_part_list(s.root), [[k, v] for k, v in sorted(s.envelopes.items())]]
    return bytes([FORMAT]) + json.dumps(data, separators=(",", ":")).encode("ascii")


def load(blob: bytes) -> Structure | None:
    """The structure stored as *blob*; None when it is of another FORMAT."""
    if not blob or blob[0] != FORMAT:
        return None
    root, envs = json.loads(blob[1:])
    return Structure(_part_from(root), {int(k): [(str(a), str(b)) for a, b in v] for k, v in envs})


class Stored:
    """A structure in its stored form, decoded on first use: a FETCH answered
    from the IMAP server's answer cache, or needing only where the top header
    ends, never decodes it."""

    __slots__ = ("_blob", "_structure")

    def __init__(self, blob: bytes, structure: Structure | None = None) -> None:
        if structure is None and (not blob or blob[0] != FORMAT):
            raise ValueError("stored MIME structure of another format")
        self._blob = blob
        self._structure = structure

    @property
    def body_start(self) -> int:
        """Where the top header ends: the second number of the stored form,
        which always begins with the root part's [start, body_start, ..."""
        if self._structure is not None:
            return self._structure.root.body_start
        return int(self._blob[1:64].split(b",", 2)[1])

    @property
    def structure(self) -> Structure:
        if self._structure is None:
            loaded = load(self._blob)
            assert loaded is not None  # the format was checked on creation
            self._structure = loaded
        return self._structure


def map_file(fp: BinaryIO) -> mmap.mmap | bytes:
    """The open file *fp* mapped read-only (pages are read when touched)."""
    if os.fstat(fp.fileno()).st_size == 0:
        return b""
    return mmap.mmap(fp.fileno(), 0, access=mmap.ACCESS_READ)
