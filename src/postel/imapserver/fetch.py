"""FETCH responses of one message (RFC 9051 §7.5.2): metadata from the index,
the rest from byte ranges of the message's content, mapped when the store
gives a file, never read whole then."""

from __future__ import annotations

import mmap
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message as EmailMessage
from typing import BinaryIO

from postel.imapserver import binary, encode
from postel.imapserver.derived import DerivedCache
from postel.imapserver.fetchatt import FetchAtt
from postel.imapserver.mime import (
    NoSuchPart,
    Part,
    filter_header,
    header_end,
    parse_header,
    parse_structure,
    section_range,
)
from postel.store import Message, mimestructure
from postel.store.message import FlagState
from postel.store.mimestructure import FORMAT, Stored, envelope_header

STREAM_ABOVE = 64 * 1024  # literals larger than this are streamed from the file

# Opens one message's content (postel.store.api.AccountMail.open_message).
Opener = Callable[[], BinaryIO]
_NEEDS_FILE = frozenset(
    {"ENVELOPE", "BODYSTRUCTURE", "BODY", "RFC822", "RFC822.HEADER", "RFC822.TEXT"}
)


@dataclass(frozen=True)
class FileRange:
    """A literal's contents, to be streamed from what *source* opens."""

    source: Opener
    start: int
    end: int


Segment = bytes | FileRange


def flags_of(msg: Message | FlagState) -> frozenset[str]:
    return msg.flags | msg.keywords


class StructureCache:
    """Parsed structures of recently fetched messages, by msgid (LRU)."""

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._items: OrderedDict[int, tuple[Part, dict[int, EmailMessage]]] = OrderedDict()

    def get(self, msgid: int, buf: mmap.mmap | bytes) -> tuple[Part, dict[int, EmailMessage]]:
        hit = self._items.get(msgid)
        if hit is not None:
            self._items.move_to_end(msgid)
            return hit
        root = parse_structure(buf)
        # The top header at 0 (ENVELOPE), each message/rfc822 part's at its start.
        headers: dict[int, EmailMessage] = {0: parse_header(buf[0 : root.body_start])}

        def walk(p: Part) -> None:
            if p.message is not None:
                inner = p.message
                headers[inner.start] = parse_header(buf[inner.start : inner.body_start])
                walk(inner)
            for c in p.children:
                walk(c)

        walk(root)
        self._items[msgid] = (root, headers)
        if len(self._items) > self.size:
            self._items.popitem(last=False)
        return root, headers

    def header(self, msgid: int, buf: mmap.mmap | bytes) -> EmailMessage:
        """The top header, from the cache when the structure is there."""
        hit = self._items.get(msgid)
        if hit is not None:
            return hit[1][0]
        return parse_header(buf[0 : header_end(buf, 0, len(buf))])


def map_file(source: Opener) -> mmap.mmap | bytes:
    """The message mapped read-only (pages are read when touched) when the
    store gives a file; else its bytes."""
    with source() as f:
        try:
            fileno = f.fileno()
        except (OSError, AttributeError):  # a stream that is no file (io.UnsupportedOperation)
            return f.read()
        size = f.seek(0, 2)
        return mmap.mmap(fileno, 0, access=mmap.ACCESS_READ) if size else b""


def needs_file(atts: tuple[FetchAtt, ...]) -> bool:
    return any(a.section is not None or a.name in _NEEDS_FILE for a in atts)


def needs_structure(atts: tuple[FetchAtt, ...]) -> bool:
    """Whether answering *atts* uses the message's stored MIME structure."""
    return any(a.section is not None or a.name in _STRUCTURED for a in atts)


_STRUCTURED = frozenset({"ENVELOPE", "BODYSTRUCTURE", "BODY"})


def cached(
    derived: DerivedCache | None, account: str, msgid: int, atts: tuple[FetchAtt, ...]
) -> bool:
    """Whether *derived* holds every structure-based answer *atts* ask for."""
    if derived is None:
        return False
    return all(
        a.section is None
        and (a.name not in _STRUCTURED or derived.get(account, msgid, a.name) is not None)
        for a in atts
    )


def read_head(source: Opener, end: int) -> bytes:
    """The first *end* bytes of the message (a header whose end is known):
    one read, no mapping."""
    with source() as f:
        return f.read(end)


def structure_for(
    blob: bytes | None, source: Opener | None, msgid: int, computed: dict[int, bytes]
) -> Stored:
    """A message's stored structure, or (mail stored before structures were,
    or in an older format) parsed from its file and added to *computed*."""
    if blob is not None and blob[:1] == bytes([FORMAT]):
        return Stored(blob)
    assert source is not None
    buf = map_file(source)
    try:
        parsed = mimestructure.structure_of(buf)
    finally:
        if isinstance(buf, mmap.mmap):
            buf.close()
    blob = mimestructure.dump(parsed)
    computed[msgid] = blob
    return Stored(blob, parsed)


def _literal(
    source: Opener,
    buf: mmap.mmap | bytes,
    start: int,
    end: int,
    partial: tuple[int, int] | None,
    literal8: bool = False,
) -> list[Segment]:
    """The range as a literal; *literal8*: as "~{n}" when it holds a NUL
    (BINARY, RFC 3516 §4.2)."""
    if partial is not None:
        origin, length = partial
        start = min(end, start + origin)
        end = min(end, start + length)
    size = end - start
    head = b"~{%d}\r\n" if literal8 and binary.has_nul(buf, start, end) else b"{%d}\r\n"
    if size > STREAM_ABOVE:
        return [head % size, FileRange(source, start, end)]
    return [head % size + buf[start:end]]


def _binary(att: FetchAtt, source: Opener, buf: mmap.mmap | bytes, root: Part) -> list[Segment]:
    """BINARY[part] and BINARY.SIZE[part] (RFC 3516 §4.2): decoded content."""
    assert att.section is not None
    try:
        got = binary.content(root, att.section.part, buf)
    except NoSuchPart:
        return [b'""']
    if isinstance(got, tuple):
        if att.name == "BINARY.SIZE":
            return [str(got[1] - got[0]).encode()]
        return _literal(source, buf, got[0], got[1], att.partial, literal8=True)
    if att.name == "BINARY.SIZE":
        return [str(len(got)).encode()]
    if att.partial is not None:
        origin, length = att.partial
        got = got[origin : origin + length]
    head = b"~{%d}\r\n" if binary.has_nul(got) else b"{%d}\r\n"
    return [head % len(got) + got]


def _section(
    att: FetchAtt,
    source: Opener,
    file: Callable[[], mmap.mmap | bytes],
    structure: Callable[[], Part],
    stored: Stored | None,
) -> list[Segment]:
    section = att.section
    assert section is not None
    if (
        stored is not None
        and not section.part
        and att.name == "BODY"
        and section.text.startswith("HEADER.FIELDS")
    ):
        # The header's end is stored: read just the header, map nothing.
        keep = section.text == "HEADER.FIELDS"
        data = filter_header(read_head(source, stored.body_start), section.fields, keep=keep)
        return [b"{%d}\r\n" % len(data) + data]
    buf = file()
    if not section.part and section.text != "MIME" and att.name == "BODY":
        # The top header and text need no structure, just where the header ends.
        end = header_end(buf, 0, len(buf))
        start, stop = {"": (0, len(buf)), "TEXT": (end, len(buf))}.get(section.text, (0, end))
        if section.text.startswith("HEADER.FIELDS"):
            keep = section.text == "HEADER.FIELDS"
            data = filter_header(buf[start:stop], section.fields, keep=keep)
            return [b"{%d}\r\n" % len(data) + data]
        return _literal(source, buf, start, stop, att.partial)
    root = structure()
    if att.name in ("BINARY", "BINARY.SIZE"):
        return _binary(att, source, buf, root)
    try:
        start, end = section_range(root, section)
    except NoSuchPart:
        return [b'""']
    if section.text.startswith("HEADER.FIELDS"):
        data = filter_header(buf[start:end], section.fields, keep=section.text == "HEADER.FIELDS")
        return [b"{%d}\r\n" % len(data) + data]
    return _literal(source, buf, start, end, att.partial)


def fetch_items(
    msg: Message,
    atts: tuple[FetchAtt, ...],
    source: Opener | None,
    cache: StructureCache,
    *,
    with_uid: bool,
    derived: DerivedCache | None = None,
    account: str = "",
    stored: Stored | None = None,
) -> list[Segment]:
    """The parenthesised FETCH data of *msg* (without "* n FETCH "); *derived*
    keeps ENVELOPE/BODY/BODYSTRUCTURE answers of *account*'s messages; with
    its *stored* structure, those need not read the message file."""
    out: list[Segment] = [b"("]
    first = True

    def item(name: str, value: list[Segment]) -> None:
        nonlocal first
        out.append((b"" if first else b" ") + name.encode() + b" ")
        out.extend(value)
        first = False

    names = [a.name for a in atts]
    if with_uid and "UID" not in names:
        item("UID", [str(msg.uid).encode()])
    structured = any(a.name in ("BODY", "BODYSTRUCTURE") and a.section is None for a in atts)
    mapped: list[mmap.mmap | bytes] = []

    def file() -> mmap.mmap | bytes:
        """The message file, mapped on first use (not at all when every answer
        comes from *derived*)."""
        if not mapped:
            assert source is not None
            mapped.append(map_file(source))
        return mapped[0]

    def structure() -> Part:
        if stored is not None:
            return stored.structure.root
        return cache.get(msg.msgid, file())[0]

    def remembered(name: str, make: Callable[[], bytes]) -> bytes:
        if derived is None:
            return make()
        value = derived.get(account, msg.msgid, name)
        if value is None:
            value = make()
            derived.put(account, msg.msgid, name, value)
        return value

    try:
        for att in atts:
            n = att.name
            if att.section is not None:
                assert source is not None
                item(att.response_name(), _section(att, source, file, structure, stored))
            elif n == "UID":
                item(n, [str(msg.uid).encode()])
            elif n == "FLAGS":
                item(n, [encode.flag_list(flags_of(msg))])
            elif n == "MODSEQ":
                item(n, [b"(%d)" % msg.modseq])
            elif n == "INTERNALDATE":
                item(n, [encode.internal_date(msg.received)])
            elif n == "RFC822.SIZE":
                item(n, [str(msg.size).encode()])
            elif n == "ENVELOPE":

                def envelope() -> bytes:
                    if stored is not None:
                        fields = stored.structure.envelopes[0]
                        return encode.envelope(envelope_header(fields))
                    if structured:  # parsed once for BODYSTRUCTURE too
                        cache.get(msg.msgid, file())
                    return encode.envelope(cache.header(msg.msgid, file()))

                item(n, [remembered(n, envelope)])
            elif n in ("BODYSTRUCTURE", "BODY"):

                def body(n: str = n) -> bytes:
                    if stored is not None:
                        root = stored.structure.root
                        envs = stored.structure.envelopes
                        headers = {k: envelope_header(v) for k, v in envs.items()}
                    else:
                        root, headers = cache.get(msg.msgid, file())
                    return encode.body_structure(root, headers, extended=n == "BODYSTRUCTURE")

                item(n, [remembered(n, body)])
            elif n in ("RFC822", "RFC822.HEADER", "RFC822.TEXT"):
                assert source is not None
                buf = file()
                end = header_end(buf, 0, len(buf))
                start, stop = {
                    "RFC822": (0, len(buf)),
                    "RFC822.HEADER": (0, end),
                    "RFC822.TEXT": (end, len(buf)),
                }[n]
                item(n, _literal(source, buf, start, stop, None))
    finally:
        if mapped and isinstance(mapped[0], mmap.mmap):
            mapped[0].close()
    out.append(b")")
    return out
