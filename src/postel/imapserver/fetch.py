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
from postel.store.mimestructure import FORMAT, HEAD_FIELDS, Stored, envelope_header, head_of

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


_STRUCTURED = frozenset({"ENVELOPE", "BODYSTRUCTURE", "BODY"})


# The version of the answers kept in the store (encode.envelope and
# body_structure): raise it when their output changes, and answers kept by
# an earlier release are made again instead of served.
ANSWER_FORMAT = 1


def stored_item(name: str) -> str:
    """The store's name of the kept answer *name* (ENVELOPE, BODYSTRUCTURE, BODY)."""
    return f"{name} {ANSWER_FORMAT}"


def answer_items(atts: tuple[FetchAtt, ...]) -> tuple[str, ...]:
    """The items of *atts* answered from the structure and kept once made
    (the store's message_answer, the process's DerivedCache)."""
    return tuple(a.name for a in atts if a.section is None and a.name in _STRUCTURED)


def from_head(att: FetchAtt) -> bool:
    """Whether *att* is answered from the stored top header fields
    (mimestructure.HEAD_FIELDS) alone: BODY[HEADER.FIELDS (...)] of those."""
    s = att.section
    return (
        s is not None
        and att.name == "BODY"
        and not s.part
        and s.text == "HEADER.FIELDS"
        and all(f.lower() in HEAD_FIELDS for f in s.fields)
    )


def sections_need_structure(atts: tuple[FetchAtt, ...], head: bool) -> bool:
    """Whether a section of *atts* needs the stored structure (with *head*
    stored, HEADER.FIELDS of its fields does not)."""
    return any(a.section is not None and not (head and from_head(a)) for a in atts)


def read_head(source: Opener, end: int) -> bytes:
    """The first *end* bytes of the message (a header whose end is known):
    one read, no mapping."""
    with source() as f:
        return f.read(end)


def structure_for(
    blob: bytes | None,
    source: Opener | None,
    msgid: int,
    computed: dict[int, tuple[bytes, bytes]],
    *,
    head: bool = True,
) -> Stored:
    """A message's stored structure, or (mail stored before structures were,
    or in an older format) parsed from its file and added to *computed* with
    its header fields. A structure stored before the header fields were
    (*head* false) gets them from the header's bytes."""
    if blob is not None and blob[:1] == bytes([FORMAT]):
        stored = Stored(blob)
        if not head and source is not None:
            computed[msgid] = (blob, head_of(read_head(source, stored.body_start)))
        return stored
    assert source is not None
    buf = map_file(source)
    try:
        parsed = mimestructure.structure_of(buf)
        fields = head_of(buf[0 : parsed.root.body_start])
    finally:
        if isinstance(buf, mmap.mmap):
            buf.close()
    blob = mimestructure.dump(parsed)
    computed[msgid] = (blob, fields)
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
    head: bytes | None,
) -> list[Segment]:
    section = att.section
    assert section is not None
    if head is not None and from_head(att):
        # The asked fields are among those stored: no file at all.
        data = filter_header(head, section.fields, keep=True)
        return [b"{%d}\r\n" % len(data) + data]
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
    answers: dict[str, bytes] | None = None,
    made: dict[str, bytes] | None = None,
    head: bytes | None = None,
) -> list[Segment]:
    """The parenthesised FETCH data of *msg* (without "* n FETCH "), with the
    message's content opened by *source* (only when the file is read).

    ENVELOPE/BODY/BODYSTRUCTURE come from *answers* (kept earlier), then
    *derived* (the process's cache of *account*'s messages), then are made
    from the *stored* structure (or the file) and added to *made* and
    *derived*; HEADER.FIELDS of the stored common fields come from *head*."""
    out: list[Segment] = [b"("]
    first = True

    def item(name: bytes, value: list[Segment]) -> None:
        nonlocal first
        out.append(name if first else b" " + name)
        out.extend(value)
        first = False

    if with_uid and not any(a.name == "UID" for a in atts):
        item(b"UID ", [b"%d" % msg.uid])
    structured = any(a.name in ("BODY", "BODYSTRUCTURE") and a.section is None for a in atts)
    mapped: list[mmap.mmap | bytes] = []

    def file() -> mmap.mmap | bytes:
        """The message file, mapped on first use (not at all when every answer
        comes from what is kept)."""
        if not mapped:
            assert source is not None
            mapped.append(map_file(source))
        return mapped[0]

    def structure() -> Part:
        if stored is not None:
            return stored.structure.root
        return cache.get(msg.msgid, file())[0]

    def remembered(name: str, make: Callable[[], bytes]) -> bytes:
        value = answers.get(name) if answers is not None else None
        if value is not None:
            return value
        if derived is not None:
            value = derived.get(account, msg.msgid, name)
        if value is None:
            value = make()
            if derived is not None:
                derived.put(account, msg.msgid, name, value)
            if made is not None:
                made[name] = value
        return value

    try:
        for att in atts:
            n = att.name
            if att.section is not None:
                assert source is not None
                item(
                    att.response_name().encode() + b" ",
                    _section(att, source, file, structure, stored, head),
                )
            elif n == "UID":
                item(b"UID ", [b"%d" % msg.uid])
            elif n == "FLAGS":
                item(b"FLAGS ", [encode.flag_list(flags_of(msg))])
            elif n == "MODSEQ":
                item(b"MODSEQ ", [b"(%d)" % msg.modseq])
            elif n == "INTERNALDATE":
                item(b"INTERNALDATE ", [encode.internal_date(msg.received)])
            elif n == "RFC822.SIZE":
                item(b"RFC822.SIZE ", [b"%d" % msg.size])
            elif n == "ENVELOPE":

                def envelope() -> bytes:
                    if stored is not None:
                        fields = stored.structure.envelopes[0]
                        return encode.envelope(envelope_header(fields))
                    if structured:  # parsed once for BODYSTRUCTURE too
                        cache.get(msg.msgid, file())
                    return encode.envelope(cache.header(msg.msgid, file()))

                item(b"ENVELOPE ", [remembered(n, envelope)])
            elif n in ("BODYSTRUCTURE", "BODY"):

                def body(n: str = n) -> bytes:
                    if stored is not None:
                        root = stored.structure.root
                        envs = stored.structure.envelopes
                        headers = {k: envelope_header(v) for k, v in envs.items()}
                    else:
                        root, headers = cache.get(msg.msgid, file())
                    return encode.body_structure(root, headers, extended=n == "BODYSTRUCTURE")

                item(n.encode() + b" ", [remembered(n, body)])
            elif n in ("RFC822", "RFC822.HEADER", "RFC822.TEXT"):
                assert source is not None
                buf = file()
                end = header_end(buf, 0, len(buf))
                start, stop = {
                    "RFC822": (0, len(buf)),
                    "RFC822.HEADER": (0, end),
                    "RFC822.TEXT": (end, len(buf)),
                }[n]
                item(n.encode() + b" ", _literal(source, buf, start, stop, None))
    finally:
        if mapped and isinstance(mapped[0], mmap.mmap):
            mapped[0].close()
    out.append(b")")
    return out
