"""Evaluating SEARCH keys against one message (RFC 9051 §6.4.4).

Flags, sizes, dates and the common address and subject fields come from the
index; HEADER, BCC, TEXT and BODY read the message file (mapped, not loaded).
Strings match as case-insensitive substrings; TEXT and BODY match the raw
bytes (content in base64 or quoted-printable is not decoded yet)."""

from __future__ import annotations

import mmap
from collections.abc import Callable

from postel.imapserver import searchkeys as sk
from postel.imapserver.fetch import Opener, map_file
from postel.imapserver.mime import header_end, parse_header
from postel.store import Message

_INDEXED = {"FROM": "from_", "TO": "to", "CC": "cc", "SUBJECT": "subject"}


def needs_file(key: sk.Key) -> bool:
    if isinstance(key, sk.Text):
        return True
    if isinstance(key, sk.Header):
        return key.field not in _INDEXED
    if isinstance(key, sk.Not):
        return needs_file(key.key)
    if isinstance(key, sk.Or):
        return needs_file(key.a) or needs_file(key.b)
    if isinstance(key, sk.And):
        return any(needs_file(k) for k in key.keys)
    return False


class _File:
    """The message's content, mapped on first use."""

    def __init__(self, source: Opener | None) -> None:
        self.source = source
        self._buf: mmap.mmap | bytes | None = None

    def buf(self) -> mmap.mmap | bytes:
        if self._buf is None:
            if self.source is None:
                self._buf = b""
            else:
                self._buf = map_file(self.source)
        return self._buf

    def close(self) -> None:
        if isinstance(self._buf, mmap.mmap):
            self._buf.close()


def _contains_bytes(buf: mmap.mmap | bytes, start: int, end: int, needle: str) -> bool:
    """Case-insensitive (ASCII) substring search, 1 MiB at a time."""
    pattern = needle.lower().encode("utf-8")
    if not pattern:
        return True
    step = 1 << 20
    overlap = len(pattern) - 1
    pos = start
    while pos < end:
        chunk = buf[pos : min(end, pos + step + overlap)].lower()
        if pattern in chunk:
            return True
        pos += step
    return False


def matches(
    key: sk.Key,
    msg: Message,
    msn: int,
    largest_msn: int,
    largest_uid: int,
    source: Opener,
) -> bool:
    f = _File(None)
    loaded = False

    def file() -> _File:
        nonlocal f, loaded
        if not loaded:
            f = _File(source)
            loaded = True
        return f

    try:
        return _eval(key, msg, msn, largest_msn, largest_uid, file)
    finally:
        f.close()


def _eval(
    key: sk.Key,
    msg: Message,
    msn: int,
    largest_msn: int,
    largest_uid: int,
    file: Callable[[], _File],
) -> bool:
    def ev(k: sk.Key) -> bool:
        return _eval(k, msg, msn, largest_msn, largest_uid, file)

    if isinstance(key, sk.All):
        return True
    if isinstance(key, sk.And):
        return all(ev(k) for k in key.keys)
    if isinstance(key, sk.Or):
        return ev(key.a) or ev(key.b)
    if isinstance(key, sk.Not):
        return not ev(key.key)
    if isinstance(key, sk.Seq):
        if key.uid:
            return key.seqset.contains(msg.uid, largest_uid)
        return key.seqset.contains(msn, largest_msn)
    if isinstance(key, sk.Flag):
        if key.flag == "\\Recent":
            return not key.present  # nothing is \Recent
        flags = {f.lower() for f in msg.flags | msg.keywords}
        return (key.flag.lower() in flags) == key.present
    if isinstance(key, sk.Size):
        return msg.size > key.size if key.larger else msg.size < key.size
    if isinstance(key, sk.ModSeq):
        return msg.modseq >= key.modseq
    if isinstance(key, sk.Date):
        when = msg.date if key.sent else msg.received
        return sk.on_day(when, key.op, key.day)
    if isinstance(key, sk.Header):
        if key.field in _INDEXED:
            value: str = getattr(msg, _INDEXED[key.field])
            return key.value.lower() in (value or "").lower()
        buf = file().buf()
        header = parse_header(buf[0 : header_end(buf, 0, len(buf))])
        values = header.get_all(key.field) or []
        if not key.value:
            return bool(values)
        return any(key.value.lower() in " ".join(str(v).split()).lower() for v in values)
    if isinstance(key, sk.Text):
        buf = file().buf()
        start = header_end(buf, 0, len(buf)) if key.body_only else 0
        return _contains_bytes(buf, start, len(buf), key.value)
    raise AssertionError(f"unhandled search key {key!r}")
