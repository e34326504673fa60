"""APPEND with several messages (MULTIAPPEND, RFC 3502), binary literals
(literal8, RFC 3516 §4.4) and the UTF8 data item (RFC 6855 §4): the
messages as parsed, and adding them all or none.

The messages of one APPEND are all read (the reader keeps large ones in
files) before the first is added; when one fails, those added before it are
removed again, so the mailbox ends up as before (RFC 3502 §6.3.11)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from postel.imapserver.lexer import Cursor
from postel.imapserver.literal import SpilledLiteral
from postel.imapserver.storeapi import MailStore
from postel.store import Message
from postel.store.errors import MessageNotFound

MAX_MESSAGES = 50  # messages in one APPEND (the reader allows 100 literals)


@dataclass(frozen=True)
class AppendMessage:
    """One message of an APPEND: its flags, internal date and data; *binary*
    when sent as a literal8, *utf8* when in the UTF8 data item."""

    flags: tuple[str, ...]
    date: datetime | None
    data: bytes | SpilledLiteral
    binary: bool = False
    utf8: bool = False


def parse_messages(
    cur: Cursor, date_time: Callable[[Cursor], datetime]
) -> tuple[AppendMessage, ...]:
    """1*append-message after the mailbox (RFC 3502 §6.3.11): each
    SP [flag-list SP] [date-time SP] (literal / literal8 / UTF8 (literal8));
    *date_time* reads a quoted date-time."""
    out: list[AppendMessage] = []
    while cur.accept(b" "):
        if len(out) >= MAX_MESSAGES:
            raise cur.error(f"more than {MAX_MESSAGES} messages in one APPEND")
        flags: tuple[str, ...] = ()
        date = None
        if cur.peek() == ord("("):
            flags = tuple(cur.flag_list())
            cur.sp()
        if cur.peek() == ord('"'):
            date = date_time(cur)
            cur.sp()
        utf8 = cur.accept(b"UTF8 (")  # RFC 6855 §4: a literal8 in parentheses
        binary = cur.accept(b"~")
        if utf8 and not binary:
            raise cur.error("UTF8 needs the message as a literal8 (~{n})")
        if not cur.at_literal():
            raise cur.error("APPEND needs the message as a literal")
        data = cur.literal()
        if not isinstance(data, SpilledLiteral) and not data:
            raise cur.error("empty message")
        if utf8:
            cur.expect(b")")
        out.append(AppendMessage(flags, date, data, binary, utf8))
    if not out:
        raise cur.error("APPEND needs a message")
    return tuple(out)


def _write_temp(directory: Path, data: bytes) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"imap-append-{os.getpid()}-{os.urandom(8).hex()}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


def append_all(
    store: MailStore, mailbox: str, messages: tuple[AppendMessage, ...], spill_dir: Path
) -> list[Message]:
    """Add *messages* to *mailbox* in order (blocking: run in a thread); when
    one fails, remove those added before it and raise its error."""
    added: list[Message] = []
    try:
        for m in messages:
            flags = [f for f in m.flags if f.lower() != "\\recent"]
            if isinstance(m.data, SpilledLiteral):
                added.append(store.append(mailbox, m.data.path, flags, m.date))
                continue
            path = _write_temp(spill_dir, m.data)
            try:
                added.append(store.append(mailbox, path, flags, m.date))
            finally:
                path.unlink(missing_ok=True)
    except BaseException:
        for msg in added:
            with contextlib.suppress(MessageNotFound):
                store.remove(msg.msgid)
        raise
    return added
