"""What every IMAP session has: its state (RFC 9051 §3), output, mailbox
names on the wire, and the helpers the command modules share."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, TypeVar

from postel.imapserver import encode, mutf7, quota, training
from postel.imapserver.compress import DeflatingWriter
from postel.imapserver.context import SessionContext, Watch
from postel.imapserver.errors import IMAPServerError, ParseError
from postel.imapserver.fetch import StructureCache
from postel.imapserver.listing import to_imap
from postel.imapserver.reader import Limits, Stream
from postel.imapserver.selected import Selected
from postel.imapserver.seqset import STAR, SeqSet
from postel.imapserver.storeapi import MailStore

T = TypeVar("T")

NOT_AUTH, AUTH, SELECTED, LOGOUT = "not authenticated", "authenticated", "selected", "logout"
ANY = (NOT_AUTH, AUTH, SELECTED)
AUTHED = (AUTH, SELECTED)


class AuthCancelled(IMAPServerError):
    """The client cancelled an AUTHENTICATE exchange with "*"."""


class SessionClosed(IMAPServerError):
    """End the session (after LOGOUT, a BYE, or a broken connection)."""


class SessionBase:
    """The state of one connection; the commands are in the mixins that
    postel.imapserver.session.Session combines."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        ctx: SessionContext,
        *,
        tls: bool,
        ip: str,
    ) -> None:
        self.reader: Stream = reader
        self.writer: asyncio.StreamWriter | DeflatingWriter = writer
        self.raw = (reader, writer)  # the connection itself, before COMPRESS
        self.compressed = False
        self.ctx = ctx
        self.tls = tls
        self.ip = ip
        self.protocol = "imaps" if tls else "imap"  # the port's kind, for the metrics
        self._tagged = ""  # OK, NO or BAD: the tagged response of the current command
        self.state = NOT_AUTH
        self.account = ""
        self.store: MailStore | None = None
        self.selected: Selected | None = None
        self.saved: list[int] = []  # UIDs of SEARCH RETURN (SAVE), "$" (RFC 5182)
        self.rev2 = False
        self.utf8 = False
        self.utf8_accept = False  # RFC 6855: ENABLE UTF8=ACCEPT (rev2 implies self.utf8 only)
        self.condstore = False  # RFC 7162 §3.1: enabled by ENABLE or its first use
        self.qresync = False  # RFC 7162 §3.2: only by ENABLE QRESYNC
        self.watch: Watch | None = None
        self.cache = StructureCache()
        self._out: list[bytes] = []
        self.auth_failures = 0
        self._login_deadline = time.monotonic() + ctx.settings.unauthenticated_timeout
        s = ctx.settings
        self.limits = Limits(s.max_line, s.max_literal, s.spill_dir, s.max_total)

    def send(self, line: bytes) -> None:
        self._out.append(line + b"\r\n")

    async def flush(self) -> None:
        """Write what was sent in one go (each write to a TLS transport makes its
        own record) and wait for the transport's buffer to drain."""
        if self._out:
            self.writer.write(b"".join(self._out))
            self._out.clear()
        await self.writer.drain()

    def ok(self, tag: str, text: str, code: str = "") -> None:
        self._tagged = "OK"
        self.send(f"{tag} OK {('[' + code + '] ') if code else ''}{text}".encode())

    def no(self, tag: str, text: str, code: str = "") -> None:
        self._tagged = "NO"
        self.send(f"{tag} NO {('[' + code + '] ') if code else ''}{text}".encode())

    def bad(self, tag: str, text: str) -> None:
        self._tagged = "BAD"
        self.send(f"{tag} BAD {one_line(text)}".encode())

    def capabilities(self) -> str:
        caps = ["IMAP4rev1", "IMAP4rev2", "LITERAL+", "ENABLE", "ID", "SASL-IR"]
        if self.state == NOT_AUTH:
            if not self.tls:
                caps += ["STARTTLS", "LOGINDISABLED"]
            else:
                caps += ["AUTH=PLAIN", "AUTH=SCRAM-SHA-256"]
        else:
            caps += [
                "IDLE",
                "UIDPLUS",
                "MOVE",
                "NAMESPACE",
                "UNSELECT",
                "COMPRESS=DEFLATE",
                "MULTIAPPEND",
                "BINARY",
                "UTF8=ACCEPT",
                "SPECIAL-USE",
                "CREATE-SPECIAL-USE",
                "LIST-EXTENDED",
                "LIST-STATUS",
                "ESEARCH",
                "SEARCHRES",
                "STATUS=SIZE",
                "CONDSTORE",
                "QRESYNC",
                f"APPENDLIMIT={self.ctx.settings.max_literal}",
                *quota.CAPABILITIES,
            ]
        return " ".join(caps)

    def mailbox_in(self, raw: bytes) -> str:
        """A mailbox name from the client: UTF-8 in rev2 / UTF8=ACCEPT, else
        modified UTF-7 (RFC 3501 §5.1.3)."""
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ParseError("mailbox name is not UTF-8") from None
        if self.utf8:
            return text
        try:
            return mutf7.decode(text)
        except mutf7.MUTF7Error as exc:
            raise ParseError(str(exc)) from None

    def mailbox_out(self, store_name: str) -> bytes:
        name = to_imap(store_name)
        return encode.astring(name if self.utf8 else mutf7.encode(name))

    def _timeout(self) -> float:
        """Seconds to wait for the client: until the login deadline (counted
        from the connection, so NOOPs cannot keep it open), then idle_timeout."""
        s = self.ctx.settings
        if self.state == NOT_AUTH:
            return max(0.0, self._login_deadline - time.monotonic())
        return s.idle_timeout

    async def _thread(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(fn, *args)

    def _store(self) -> MailStore:
        assert self.store is not None
        return self.store

    def _sel(self) -> Selected:
        assert self.selected is not None
        return self.selected

    def _resolve(self, seqset: SeqSet, uid: bool) -> list[int]:
        """The UIDs *seqset* names, ascending (RFC 9051 §6.4.8: UIDs not in the
        mailbox are ignored)."""
        sel = self._sel()
        if uid:
            return seqset.members(sel.uids.tolist(), max(sel.largest_uid, 0))
        out: list[int] = []
        n = sel.exists
        if n == 0 and all(STAR in r for r in seqset.ranges):
            return []  # "1:*" of an empty mailbox names nothing (as Dovecot answers)
        for lo, hi in seqset.bounds(n):
            if lo < 1 or hi > n:
                raise ParseError("message sequence number out of range")
            out.extend(sel.uids[lo - 1 : hi])
        return sorted(set(out))

    async def _learn(self, verdicts: list[tuple[int, bool | None]]) -> None:
        """The junk filter learns the user's verdicts (in a thread; never fails)."""
        trainer = self.ctx.trainer
        if trainer is not None and any(v is not None for _, v in verdicts):
            await self._thread(training.learn, trainer, self.account, self._store(), verdicts)


def one_line(text: str) -> str:
    return " ".join(text.split())
