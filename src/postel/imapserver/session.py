"""One IMAP connection: the states of RFC 9051 §3 (not authenticated,
authenticated, selected, logout) and the commands of each.

IMAP4rev1 (RFC 3501) unless the client ENABLEs IMAP4rev2 (RFC 9051 §6.3.1).
Store calls run in threads; message bodies are streamed from their files."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import logging
import os
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from postel.imapserver import appendcmd, encode, fetchpage, mutf7, quota, searchres, training
from postel.imapserver import search as searching
from postel.imapserver.binary import UnknownCTE
from postel.imapserver.command import Command, QResync, parse_command
from postel.imapserver.compress import CorruptStream, DeflatingWriter, InflatingReader
from postel.imapserver.context import SessionContext, Watch
from postel.imapserver.errors import ParseError
from postel.imapserver.fetch import FileRange, StructureCache, flags_of
from postel.imapserver.fetchatt import FetchAtt
from postel.imapserver.listing import list_entries, list_options, lsub_entries, to_imap
from postel.imapserver.literal import SpilledLiteral
from postel.imapserver.reader import (
    Limits,
    LineTooLong,
    LiteralTooBig,
    Stream,
    read_command,
    read_line,
)
from postel.imapserver.searchkeys import uses_modseq
from postel.imapserver.selected import Selected, load, refresh
from postel.imapserver.seqset import STAR, SeqSet, format_uids
from postel.imapserver.storeapi import MailStore, iter_messages, page_messages
from postel.imapserver.vanished import format_ranges, superset
from postel.metrics import record as metrics
from postel.sasl import LoginRefused, SASLError, ScramServer, decode_plain, decode_text
from postel.store import MailboxInfo, Message, StoreError
from postel.store.errors import (
    InvalidFlag,
    MailboxExists,
    MailboxNotFound,
    MessageNotFound,
    OverQuota,
    SpecialUseTaken,
    UnsupportedSpecialUse,
)
from postel.store.message import FlagState
from postel.store.names import SYSTEM_FLAGS, normalize_mailbox

log = logging.getLogger("postel.imapserver")

T = TypeVar("T")

NOT_AUTH, AUTH, SELECTED, LOGOUT = "not authenticated", "authenticated", "selected", "logout"
ANY = (NOT_AUTH, AUTH, SELECTED)
AUTHED = (AUTH, SELECTED)
# Which states each command is valid in (RFC 9051 §6).
STATES: dict[str, tuple[str, ...]] = {
    "CAPABILITY": ANY,
    "NOOP": ANY,
    "LOGOUT": ANY,
    "ID": ANY,
    "STARTTLS": (NOT_AUTH,),
    "LOGIN": (NOT_AUTH,),
    "AUTHENTICATE": (NOT_AUTH,),
    "ENABLE": AUTHED,
    "SELECT": AUTHED,
    "EXAMINE": AUTHED,
    "CREATE": AUTHED,
    "DELETE": AUTHED,
    "RENAME": AUTHED,
    "SUBSCRIBE": AUTHED,
    "UNSUBSCRIBE": AUTHED,
    "LIST": AUTHED,
    "LSUB": AUTHED,
    "NAMESPACE": AUTHED,
    "STATUS": AUTHED,
    "APPEND": AUTHED,
    "IDLE": AUTHED,
    "CHECK": (SELECTED,),
    "CLOSE": (SELECTED,),
    "UNSELECT": (SELECTED,),
    "EXPUNGE": (SELECTED,),
    "SEARCH": (SELECTED,),
    "FETCH": (SELECTED,),
    "STORE": (SELECTED,),
    "COPY": (SELECTED,),
    "MOVE": (SELECTED,),
    "GETQUOTA": AUTHED,
    "GETQUOTAROOT": AUTHED,
    "SETQUOTA": AUTHED,
    "COMPRESS": AUTHED,
}
PERMANENT_FLAGS = b"(\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)"
SYSTEM_FLAG_LIST = b"(\\Answered \\Flagged \\Deleted \\Seen \\Draft)"
MAX_AUTH_FAILURES = 3  # failed logins of one connection before BYE
FETCH_PAGE = 200  # messages per thread hop in FETCH
CHUNK = 256 * 1024


class _Cancelled(Exception):
    """The client cancelled an AUTHENTICATE exchange with "*"."""


class _Close(Exception):
    """End the session (after LOGOUT, a BYE, or a broken connection)."""


class Session:
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

    # -- output -------------------------------------------------------------

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
        self.send(f"{tag} BAD {_one_line(text)}".encode())

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

    # -- names --------------------------------------------------------------

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

    # -- the loop -------------------------------------------------------------

    async def run(self) -> None:
        self.send(f"* OK [CAPABILITY {self.capabilities()}] postel IMAP ready".encode())
        try:
            while self.state != LOGOUT:
                await self.flush()
                await self._one()
            await self.flush()
        except _Close:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.flush(), 5)
        except (EOFError, ConnectionError, TimeoutError, CorruptStream):
            pass
        finally:
            if self.watch is not None:
                self.watch.close()
                self.watch = None
            if self.account and self.ctx.per_account[self.account] > 0:
                self.ctx.per_account[self.account] -= 1
            self.state = LOGOUT

    def _timeout(self) -> float:
        """Seconds to wait for the client: until the login deadline (counted
        from the connection, so NOOPs cannot keep it open), then idle_timeout."""
        s = self.ctx.settings
        if self.state == NOT_AUTH:
            return max(0.0, self._login_deadline - time.monotonic())
        return s.idle_timeout

    async def _one(self) -> None:
        async def go_ahead() -> None:
            self.send(b"+ Ready for literal data")
            await self.flush()

        try:
            async with asyncio.timeout(self._timeout()):
                parts = await read_command(self.reader, self.limits, go_ahead)
        except TimeoutError:
            self.send(b"* BYE [UNAVAILABLE] autologout: idle for too long")
            await self.flush()
            raise _Close from None
        except LineTooLong:
            self.bad("*", f"command line longer than {self.limits.max_line} bytes")
            return
        except LiteralTooBig as exc:
            tag = exc.tag.decode("ascii", "replace")
            if not exc.synchronizing:  # its data is on the way: no way to resync
                self.send(f"* BYE [TOOBIG] {exc}".encode())
                await self.flush()
                raise _Close from None
            self.no(tag, str(exc), "TOOBIG")
            return
        started, name, uid = time.monotonic(), "", False
        self._tagged = ""
        try:
            try:
                cmd = parse_command(parts)
            except ParseError as exc:
                self.bad(exc.tag, str(exc))
                return
            name, uid = cmd.name, cmd.uid
            allowed = STATES.get(cmd.name, ())
            if self.state not in allowed:
                self.bad(cmd.tag, f"{cmd.name} not allowed in state {self.state}")
                return
            try:
                if self.selected is not None:
                    searchres.bind(cmd, self.saved, self.selected.msn)
                await getattr(self, "cmd_" + cmd.name.lower())(cmd)
            except ParseError as exc:
                self.bad(cmd.tag, str(exc))
            except MailboxNotFound as exc:
                self.no(cmd.tag, str(exc), "NONEXISTENT")
            except MailboxExists as exc:
                self.no(cmd.tag, str(exc), "ALREADYEXISTS")
            except InvalidFlag as exc:
                self.bad(cmd.tag, str(exc))
            except UnknownCTE as exc:  # FETCH BINARY (RFC 3516 §5)
                self.no(cmd.tag, str(exc), "UNKNOWN-CTE")
            except OverQuota as exc:  # APPEND, COPY (RFC 9208 §4.3)
                self.no(cmd.tag, _one_line(str(exc)), "OVERQUOTA")
            except StoreError as exc:
                self.no(cmd.tag, _one_line(str(exc)), "CANNOT")
            except (_Close, ConnectionError, CorruptStream, EOFError, TimeoutError):
                raise
            except Exception:  # a bug: this command fails, the session goes on
                log.exception("imap command failed", extra={"command": cmd.name, "ip": self.ip})
                self.no(cmd.tag, f"{cmd.name} failed: internal error", "SERVERBUG")
        finally:
            metrics.imap_command(self.protocol, name, uid, time.monotonic() - started, self._tagged)
            for p in parts:
                if isinstance(p, SpilledLiteral):
                    p.discard()

    async def _thread(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(fn, *args)

    def _store(self) -> MailStore:
        assert self.store is not None
        return self.store

    def _sel(self) -> Selected:
        assert self.selected is not None
        return self.selected

    # -- any state ------------------------------------------------------------

    async def cmd_capability(self, cmd: Command) -> None:
        self.send(f"* CAPABILITY {self.capabilities()}".encode())
        self.ok(cmd.tag, "CAPABILITY completed")

    async def cmd_noop(self, cmd: Command) -> None:
        await self._announce()
        self.ok(cmd.tag, "NOOP completed")

    async def cmd_check(self, cmd: Command) -> None:
        await self._announce()
        self.ok(cmd.tag, "CHECK completed")

    async def cmd_logout(self, cmd: Command) -> None:
        self.send(b"* BYE postel logging out")
        self.ok(cmd.tag, "LOGOUT completed")
        self.state = LOGOUT

    async def cmd_id(self, cmd: Command) -> None:
        # RFC 2971 §3.3: the client's fields are only logged.
        if cmd.params:
            log.info(
                "imap client id",
                extra={
                    "ip": self.ip,
                    "client": ",".join(f"{k}={v}" for k, v in cmd.params.items()),
                },
            )
        self.send(b'* ID ("name" "postel")')
        self.ok(cmd.tag, "ID completed")

    async def cmd_compress(self, cmd: Command) -> None:
        """COMPRESS DEFLATE (RFC 4978 §3): both directions deflated from the
        end of the tagged OK on."""
        if cmd.items != ("DEFLATE",):
            self.bad(cmd.tag, f"unknown compression mechanism {' '.join(cmd.items)}")
            return
        if self.compressed:
            self.no(cmd.tag, "DEFLATE is active already", "COMPRESSIONACTIVE")
            return
        self.ok(cmd.tag, "DEFLATE active")
        await self.flush()
        self.reader = InflatingReader(self.raw[0], self.ctx.settings.max_line + 2)
        self.writer = DeflatingWriter(self.raw[1])
        self.compressed = True
        log.info("imap compression on", extra={"account": self.account, "ip": self.ip})

    # -- not authenticated ----------------------------------------------------

    async def cmd_starttls(self, cmd: Command) -> None:
        if self.tls or self.ctx.tls is None:
            self.bad(cmd.tag, "TLS is active already" if self.tls else "STARTTLS not available")
            return
        if self.raw[0]._buffer:  # type: ignore[attr-defined]
            # RFC 9051 §11.1: nothing sent before the handshake may be used after it.
            self.bad(cmd.tag, "data after STARTTLS before the TLS handshake")
            raise _Close
        self.ok(cmd.tag, "begin TLS negotiation now")
        await self.flush()
        try:
            await self.raw[1].start_tls(self.ctx.tls)
        except (ssl.SSLError, OSError) as exc:
            log.info("imap starttls failed", extra={"ip": self.ip, "err": str(exc)})
            raise _Close from None
        self.tls = True

    async def cmd_login(self, cmd: Command) -> None:
        if not self.tls:
            self.no(cmd.tag, "LOGIN only after STARTTLS", "PRIVACYREQUIRED")
            return
        user, password = (s.decode("utf-8", "replace") for s in cmd.strings)
        await self._login(cmd.tag, user, password, "LOGIN")

    async def cmd_authenticate(self, cmd: Command) -> None:
        if not self.tls:
            self.no(cmd.tag, "authentication only after STARTTLS", "PRIVACYREQUIRED")
            return
        mech = cmd.strings[0].decode()
        if mech not in ("PLAIN", "SCRAM-SHA-256"):
            self.no(cmd.tag, f"mechanism {mech} not supported", "CANNOT")
            return
        try:
            if len(cmd.strings) > 1:  # RFC 4959 SASL-IR
                response = cmd.strings[1].decode("ascii", "replace")
            else:
                response = await self._challenge(b"")
            if mech == "SCRAM-SHA-256":
                await self._scram(cmd.tag, response)
                return
            authzid, user, password = decode_plain(response)
        except _Cancelled:
            self.bad(cmd.tag, "authentication cancelled")
            return
        except SASLError as exc:
            self.bad(cmd.tag, f"malformed authentication response: {exc}")
            return
        if authzid and authzid != user:
            self.no(cmd.tag, "authorization identity not allowed", "AUTHORIZATIONFAILED")
            return
        await self._login(cmd.tag, user, password, "PLAIN")

    async def _challenge(self, data: bytes) -> str:
        """Send a continuation with base64 *data*; the client's response line
        (RFC 9051 §6.2.2), "*" cancelling."""
        self.send(b"+ " + base64.b64encode(data))
        await self.flush()
        try:
            async with asyncio.timeout(self._timeout()):
                line = await read_line(self.reader, self.limits.max_line)
        except LineTooLong:
            raise SASLError("response too long") from None
        response = line.decode("ascii", "replace").strip()
        if response == "*":
            raise _Cancelled
        return response

    async def _scram(self, tag: str, initial: str) -> None:
        """SCRAM-SHA-256 (RFC 7677) with the keys submission uses."""
        server = ScramServer(decode_text(initial))
        user = server.username
        try:
            keys = await self.ctx.logins.scram_keys(self.ip, user)
        except LoginRefused as exc:
            metrics.authentication(self.protocol, "ratelimited")
            self.no(tag, f"too many failed logins, try again in {exc.wait} seconds", "UNAVAILABLE")
            self._auth_failed()
            return
        first = server.first(keys.salt, keys.iterations)
        response = decode_text(await self._challenge(first.encode()))
        final = server.final(response, keys.stored_key, keys.server_key)
        if final is None or keys.account is None or (server.authzid and server.authzid != user):
            log.info("imap login failed", extra={"ip": self.ip, "mechanism": "SCRAM-SHA-256"})
            metrics.authentication(self.protocol, "failure")
            self.no(tag, "authentication failed", "AUTHENTICATIONFAILED")
            self._auth_failed()
            return
        await self.ctx.logins.succeeded(keys.attempt)
        await self._challenge(final.encode())  # the client answers with an empty line
        await self._logged_in(tag, keys.account, "SCRAM-SHA-256")

    async def _login(self, tag: str, user: str, password: str, how: str) -> None:
        try:
            account = await self.ctx.logins.check(self.ip, user, password)
        except LoginRefused as exc:
            log.info("imap login refused", extra={"ip": self.ip, "wait": exc.wait})
            metrics.authentication(self.protocol, "ratelimited")
            self.no(tag, f"too many failed logins, try again in {exc.wait} seconds", "UNAVAILABLE")
            self._auth_failed()
            return
        if account is None:
            log.info("imap login failed", extra={"ip": self.ip, "mechanism": how})
            metrics.authentication(self.protocol, "failure")
            self.no(tag, "authentication failed", "AUTHENTICATIONFAILED")
            self._auth_failed()
            return
        await self._logged_in(tag, account, how)

    def _auth_failed(self) -> None:
        """A few failed logins per connection, then BYE (the login limiter counts
        them across connections)."""
        self.auth_failures += 1
        if self.auth_failures >= MAX_AUTH_FAILURES:
            self.send(b"* BYE too many failed logins")
            raise _Close

    async def _logged_in(self, tag: str, account: str, how: str) -> None:
        metrics.authentication(self.protocol, "success")  # the password was right
        limit = self.ctx.settings.max_connections_per_account
        if self.ctx.per_account[account] >= limit:
            self.no(tag, f"more than {limit} connections of this account", "LIMIT")
            return
        self.ctx.per_account[account] += 1
        self.account = account
        self.store = await self._thread(self.ctx.open_store, account)
        self.watch = self.ctx.changes.watch(account)
        self.state = AUTH
        log.info("imap authenticated", extra={"account": account, "ip": self.ip, "mechanism": how})
        self.ok(tag, "logged in", f"CAPABILITY {self.capabilities()}")

    # -- authenticated ----------------------------------------------------------

    async def cmd_enable(self, cmd: Command) -> None:
        enabled = []
        for cap in cmd.items:
            if cap == "IMAP4REV2":
                self.rev2 = self.utf8 = True
                enabled.append("IMAP4rev2")
            elif cap == "UTF8=ACCEPT":
                self.utf8 = self.utf8_accept = True
                enabled.append("UTF8=ACCEPT")
            elif cap == "CONDSTORE":
                self.condstore = True
                enabled.append("CONDSTORE")
            elif cap == "QRESYNC":  # RFC 7162 §3.2.3: implies CONDSTORE
                self.condstore = self.qresync = True
                enabled.append("QRESYNC")
        self.send(("* ENABLED " + " ".join(enabled)).rstrip().encode())
        self.ok(cmd.tag, "ENABLE completed")

    async def cmd_select(self, cmd: Command, readonly: bool = False) -> None:
        name = self.mailbox_in(cmd.mailbox)
        if cmd.qresync is not None and not self.qresync:
            self.bad(cmd.tag, "QRESYNC parameter without ENABLE QRESYNC")  # RFC 7162 §3.2.5
            return
        if cmd.condstore or cmd.qresync is not None:
            self.condstore = True
        self.saved = []  # RFC 5182 §2.1: empty in a newly selected mailbox
        if self.selected is not None:
            self.selected = None
            self.state = AUTH
            if self.rev2 or self.qresync:  # RFC 7162 §3.2.11
                self.send(b"* OK [CLOSED] previous mailbox closed")
        sel = await self._thread(load, self._store(), name, readonly)
        self.selected = sel
        self.state = SELECTED
        self.send(b"* FLAGS " + SYSTEM_FLAG_LIST)
        self.send(f"* {sel.exists} EXISTS".encode())
        if not self.rev2:
            self.send(b"* 0 RECENT")
        else:
            self.send(b'* LIST () "/" ' + self.mailbox_out(sel.name))
        perm = b"()" if readonly else PERMANENT_FLAGS
        self.send(b"* OK [PERMANENTFLAGS " + perm + b"] flags that can be set")
        self.send(f"* OK [UIDVALIDITY {sel.uidvalidity}] UIDs valid".encode())
        self.send(f"* OK [UIDNEXT {sel.uidnext}] predicted next UID".encode())
        # RFC 7162 §3.1.2.1: always when CONDSTORE is advertised (1 at least).
        self.send(f"* OK [HIGHESTMODSEQ {max(sel.highestmodseq, 1)}] modseq".encode())
        if cmd.qresync is not None and cmd.qresync.uidvalidity == sel.uidvalidity:
            await self._qresync(cmd.qresync)
        code = "READ-ONLY" if readonly else "READ-WRITE"
        self.ok(cmd.tag, f"{cmd.name} completed", code)

    async def _qresync(self, q: QResync) -> None:
        """What changed since the client's modseq: VANISHED (EARLIER) and FETCH
        (UID FLAGS MODSEQ) (RFC 7162 §3.2.5), limited to its known UIDs."""
        sel = self._sel()
        changes = await self._thread(self._store().changes_since, sel.name, q.modseq)
        largest = sel.largest_uid
        vanished = changes.vanished
        if q.known_uids is not None:
            vanished = [u for u in vanished if q.known_uids.contains(u, largest)]
        if not changes.vanished_complete:
            # §3.2.5.2: removals that old are no longer kept; every known UID
            # (or every UID before UIDNEXT) not in the mailbox now.
            bounds = (
                [(1, sel.uidnext - 1)] if q.known_uids is None else q.known_uids.bounds(largest)
            )
            text = format_ranges(superset(sel.uids, bounds, sel.uidnext, vanished))
            if text:
                self.send(f"* VANISHED (EARLIER) {text}".encode())
        elif vanished:
            self.send(f"* VANISHED (EARLIER) {format_uids(vanished)}".encode())
        for msg in changes.changed:
            msn = sel.msn(msg.uid)
            if msn and (q.known_uids is None or q.known_uids.contains(msg.uid, largest)):
                self._fetch_flags(msn, msg, with_uid=True)

    def _fetch_flags(
        self, msn: int, msg: Message | FlagState, *, with_uid: bool, flags: bool = True
    ) -> None:
        """* n FETCH (UID u FLAGS (...) MODSEQ (m)): the flags of a message, with
        its modseq once CONDSTORE is on (RFC 7162 §3.1.4) and its UID when asked
        or with QRESYNC (§3.2.4)."""
        items = []
        if with_uid or self.qresync:
            items.append(b"UID %d" % msg.uid)
        if flags:
            items.append(b"FLAGS " + encode.flag_list(flags_of(msg)))
        if self.condstore:
            items.append(b"MODSEQ (%d)" % msg.modseq)
        self.send(b"* %d FETCH (" % msn + b" ".join(items) + b")")

    async def cmd_examine(self, cmd: Command) -> None:
        await self.cmd_select(cmd, readonly=True)

    async def cmd_create(self, cmd: Command) -> None:
        name = self.mailbox_in(cmd.mailbox).rstrip("/")
        if name.upper() == "INBOX":
            self.no(cmd.tag, "INBOX exists", "ALREADYEXISTS")
            return
        if len(cmd.flags) > 1:  # RFC 6154 §3: NO [USEATTR] for what cannot be
            self.no(cmd.tag, "one special use per mailbox", "USEATTR")
            return
        use = cmd.flags[0] if cmd.flags else ""
        try:
            create = functools.partial(self._store().create_mailbox, special_use=use)
            await self._thread(create, name)
        except (UnsupportedSpecialUse, SpecialUseTaken) as exc:
            self.no(cmd.tag, str(exc), "USEATTR")
            return
        self.ok(cmd.tag, "CREATE completed")

    async def cmd_delete(self, cmd: Command) -> None:
        name = self.mailbox_in(cmd.mailbox)
        if name.upper() == "INBOX":
            self.no(cmd.tag, "the INBOX cannot be deleted", "CANNOT")
            return
        info = await self._thread(self._store().mailbox, name)
        if self.selected is not None and info.name == self.selected.name:
            self.selected = None
            self.state = AUTH
        await self._thread(self._store().delete_mailbox, info.name)
        self.ok(cmd.tag, "DELETE completed")

    async def cmd_rename(self, cmd: Command) -> None:
        old, new = self.mailbox_in(cmd.mailbox), self.mailbox_in(cmd.mailbox2)
        if old.upper() == "INBOX":
            self.no(cmd.tag, "renaming the INBOX is not supported", "CANNOT")
            return
        info = await self._thread(self._store().rename_mailbox, old, new)
        sel, old = self.selected, normalize_mailbox(old)
        if sel is not None and (sel.name == old or sel.name.startswith(old + "/")):
            sel.name = info.name + sel.name[len(old) :]  # selected, it goes on renamed
        self.ok(cmd.tag, "RENAME completed")

    async def cmd_subscribe(self, cmd: Command) -> None:
        # RFC 9051 §6.3.9: a name without a mailbox may be subscribed too.
        await self._thread(self._store().subscribe, self.mailbox_in(cmd.mailbox))
        self.ok(cmd.tag, "SUBSCRIBE completed")

    async def cmd_unsubscribe(self, cmd: Command) -> None:
        # RFC 9051 §6.3.10: OK also when the name was not subscribed.
        await self._thread(self._store().unsubscribe, self.mailbox_in(cmd.mailbox))
        self.ok(cmd.tag, "UNSUBSCRIBE completed")

    async def cmd_namespace(self, cmd: Command) -> None:
        self.send(b'* NAMESPACE (("" "/")) NIL NIL')
        self.ok(cmd.tag, "NAMESPACE completed")

    async def cmd_list(self, cmd: Command) -> None:
        reference = self.mailbox_in(cmd.mailbox)
        patterns = [self.mailbox_in(p) for p in cmd.patterns]
        kind = cmd.name
        if kind == "LIST" and patterns == [""] and not cmd.items:
            # RFC 9051 §6.3.9: the hierarchy delimiter and root.
            self.send(b'* LIST (\\Noselect) "/" ""')
            self.ok(cmd.tag, "LIST completed")
            return
        options = list_options(cmd.items, cmd.returns, patterns=len(patterns), rev2=self.rev2)
        store = self._store()
        infos = await self._thread(store.mailboxes)
        by_name = {i.name: i for i in infos}
        subscriptions = await self._thread(store.subscriptions)
        if kind == "LSUB":
            entries = lsub_entries([i.name for i in infos], subscriptions, reference, patterns[0])
        else:
            entries = list_entries(
                {i.name: i.special_use for i in infos},
                reference,
                patterns,
                rev2=self.rev2,
                subscriptions=subscriptions,
                options=options,
            )
        for e in entries:
            line = f'* {kind} ({" ".join(e.attributes)}) "/" '.encode()
            line += self.mailbox_out(e.store_name or e.name)
            self.send(line + e.extended_data().encode())
            if options.status and e.exists:  # RFC 5819 §2: selectable mailboxes only
                await self._status(e.store_name, options.status, by_name.get(e.store_name))
        self.ok(cmd.tag, f"{kind} completed")

    cmd_lsub = cmd_list

    async def cmd_status(self, cmd: Command) -> None:
        name = self.mailbox_in(cmd.mailbox)
        await self._status(name, cmd.items)
        self.ok(cmd.tag, "STATUS completed")

    async def _status(
        self, name: str, items: tuple[str, ...], info: MailboxInfo | None = None
    ) -> None:
        """* STATUS for *name*, from *info* when the caller has read it already."""
        store = self._store()
        if info is None:
            info = await self._thread(store.mailbox, name)
        values = []
        for item in items:
            if item == "MESSAGES":
                value = info.total
            elif item == "UIDNEXT":
                value = info.uidnext
            elif item == "UIDVALIDITY":
                value = info.uidvalidity
            elif item == "UNSEEN":
                value = info.unseen
            elif item == "SIZE":
                value = info.size
            elif item == "RECENT":
                value = 0
            elif item == "HIGHESTMODSEQ":  # RFC 7162 §3.1.10
                self.condstore = True
                value = max(info.highestmodseq, 1)
            else:  # DELETED: counted from the index, page by page

                def deleted() -> int:
                    return sum("\\Deleted" in m.flags for m in iter_messages(store, info.name))

                value = await self._thread(deleted)
            values.append(f"{item} {value}")
        self.send(b"* STATUS " + self.mailbox_out(info.name) + f" ({' '.join(values)})".encode())

    async def cmd_append(self, cmd: Command) -> None:
        name = self.mailbox_in(cmd.mailbox)
        if any(m.utf8 for m in cmd.messages) and not self.utf8:
            self.bad(cmd.tag, "the UTF8 APPEND data item needs ENABLE UTF8=ACCEPT")  # RFC 6855 §4
            return
        store = self._store()
        try:
            info = await self._thread(store.mailbox, name)
        except MailboxNotFound:
            self.no(cmd.tag, f"no mailbox {name!r}", "TRYCREATE")
            return
        # All or none (RFC 3502 §6.3.11); APPENDUID with a UID set (RFC 4315 §3).
        added = await self._thread(
            appendcmd.append_all, store, info.name, cmd.messages, self.limits.spill_dir
        )
        log.info(
            "imap append",
            extra={
                "account": self.account,
                "mailbox": info.name,
                "uid": format_uids([m.uid for m in added]),
            },
        )
        if self.selected is not None and self.selected.name == info.name:
            await self._announce()
        uids = format_uids([m.uid for m in added])
        self.ok(cmd.tag, "APPEND completed", f"APPENDUID {info.uidvalidity} {uids}")

    async def cmd_idle(self, cmd: Command) -> None:
        self.send(b"+ idling")
        await self.flush()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.ctx.settings.idle_timeout
        reading = asyncio.ensure_future(read_line(self.reader, self.limits.max_line))
        try:
            while True:
                if self.selected is not None:
                    await self._announce()
                    await self.flush()
                left = deadline - loop.time()
                if left <= 0:
                    self.send(b"* BYE [UNAVAILABLE] IDLE for too long")
                    await self.flush()
                    raise _Close
                # Wake when a change to the account is committed (or, without a
                # change feed, every recheck_interval).
                assert self.watch is not None
                waiting = asyncio.ensure_future(self.watch.wait(left))
                done, _ = await asyncio.wait(
                    {reading, waiting}, return_when=asyncio.FIRST_COMPLETED
                )
                if reading in done:
                    waiting.cancel()
                    break
        except BaseException:
            reading.cancel()
            raise
        try:
            line = reading.result()
        except LineTooLong:
            self.bad(cmd.tag, "expected DONE")
            return
        if line.strip().upper() != b"DONE":
            self.bad(cmd.tag, "expected DONE")
            return
        self.ok(cmd.tag, "IDLE terminated")

    # -- selected -----------------------------------------------------------------

    async def _announce(self) -> None:
        """Untagged EXPUNGE (VANISHED with QRESYNC, RFC 7162 §3.2.10), EXISTS
        and FETCH (FLAGS) for changes made elsewhere (RFC 9051 §7.4); not after
        FETCH, STORE and SEARCH, whose sequence numbers must stay."""
        sel = self.selected
        if sel is None:
            return
        delta = await self._thread(refresh, self._store(), sel)
        if self.qresync:
            if delta.vanished:
                self.send(f"* VANISHED {format_uids(delta.vanished)}".encode())
        else:
            for msn in delta.expunged:
                self.send(f"* {msn} EXPUNGE".encode())
        if delta.exists is not None:
            self.send(f"* {delta.exists} EXISTS".encode())
        for msn, msg in delta.flags:
            self._fetch_flags(msn, msg, with_uid=False)

    async def cmd_close(self, cmd: Command) -> None:
        sel = self._sel()
        if not sel.readonly:
            await self._expunge(None, silent=True)
        self.selected = None
        self.saved = []
        self.state = AUTH
        self.ok(cmd.tag, "CLOSE completed")

    async def cmd_unselect(self, cmd: Command) -> None:
        self.selected = None
        self.saved = []
        self.state = AUTH
        self.ok(cmd.tag, "UNSELECT completed")

    async def cmd_expunge(self, cmd: Command) -> None:
        if self._sel().readonly:
            self.no(cmd.tag, "mailbox is read-only", "READ-ONLY")
            return
        await self._expunge(cmd.seqset if cmd.uid else None, silent=False)
        self.ok(cmd.tag, "EXPUNGE completed")

    async def _expunge(self, uids: SeqSet | None, *, silent: bool) -> None:
        sel = self._sel()
        store = self._store()
        largest = sel.largest_uid

        def run() -> list[int]:
            gone = []
            for msg in iter_messages(store, sel.name):
                if "\\Deleted" not in msg.flags:
                    continue
                if uids is not None and not uids.contains(msg.uid, largest):
                    continue
                if sel.msn(msg.uid) == 0:
                    continue  # not announced to this session yet
                with contextlib.suppress(MessageNotFound):
                    store.remove(msg.msgid)
                gone.append(msg.uid)
            return gone

        await self._thread(run)
        if not silent:
            await self._announce()
        else:
            await self._thread(refresh, store, sel)

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

    async def _messages(self, uids: list[int]) -> list[Message]:
        """The index entries of *uids* (ascending), paged from the store."""
        return await self._thread(page_messages, self._store(), self._sel().name, uids)

    async def cmd_fetch(self, cmd: Command) -> None:
        assert cmd.seqset is not None
        sel = self._sel()
        uids = self._resolve(cmd.seqset, cmd.uid)
        atts = cmd.fetch
        since = cmd.changedsince
        if since is not None or any(a.name == "MODSEQ" for a in atts):
            self.condstore = True  # RFC 7162 §3.1: a CONDSTORE enabling command
        if since is not None and not any(a.name == "MODSEQ" for a in atts):
            atts = (*atts, FetchAtt("MODSEQ"))  # RFC 7162 §3.1.4.1
        if cmd.vanished:
            assert since is not None
            if not self.qresync:
                self.bad(cmd.tag, "VANISHED needs ENABLE QRESYNC")
                return
            # RFC 7162 §3.2.6: the UIDs of the set expunged since CHANGEDSINCE.
            changes = await self._thread(self._store().changes_since, sel.name, since)
            largest = max(sel.largest_uid, sel.uidnext - 1)
            gone = [u for u in changes.vanished if cmd.seqset.contains(u, largest)]
            if not changes.vanished_complete:
                # §3.2.10 allows a superset: the set's UIDs not in the mailbox.
                ranges = superset(sel.uids, cmd.seqset.bounds(largest), sel.uidnext, gone)
                if ranges:
                    self.send(f"* VANISHED (EARLIER) {format_ranges(ranges)}".encode())
            elif gone:
                self.send(f"* VANISHED (EARLIER) {format_uids(gone)}".encode())
        fetch = fetchpage.Fetch(
            atts,
            with_uid=cmd.uid,
            since=since,
            set_seen=not sel.readonly and any(a.sets_seen for a in atts),
            account=self.account,
            cache=self.cache,
            derived=self.ctx.derived,
        )
        store = self._store()
        read: list[tuple[int, bool | None]] = []  # \Seen set by this FETCH: a verdict
        for i in range(0, len(uids), FETCH_PAGE):
            batch = uids[i : i + FETCH_PAGE]
            page = await self._thread(fetchpage.build, store, sel.name, batch, fetch)
            for msg in page.seen:
                read.append((msg.msgid, training.verdict_for_flags(sel.name, ["\\Seen"])))
                sel.own[msg.uid] = msg.modseq  # announced here, not again
            for uid, items in page.items:
                msn = sel.msn(uid)
                if msn == 0:
                    continue
                self._out.append(b"* %d FETCH " % msn)
                for seg in items:
                    if isinstance(seg, FileRange):
                        await self.flush()
                        await self._stream(seg)
                    else:
                        self._out.append(seg)
                self._out.append(b"\r\n")
            await self.flush()
        await self._learn(read)
        self.ok(cmd.tag, f"{'UID ' if cmd.uid else ''}FETCH completed")

    async def _stream(self, seg: FileRange) -> None:
        with seg.source() as f:
            f.seek(seg.start)
            left = seg.end - seg.start
            while left:
                data = await self._thread(f.read, min(CHUNK, left))
                if not data:  # cannot happen to an immutable file; keep the framing
                    data = b" " * left
                self.writer.write(data)
                left -= len(data)
                await self.flush()

    async def cmd_search(self, cmd: Command) -> None:
        assert cmd.search is not None
        sel = self._sel()
        store = self._store()
        key = cmd.search.key
        largest_msn, largest_uid = sel.exists, sel.largest_uid
        returns = cmd.search.returns
        if self.utf8_accept and cmd.search.charset:
            # RFC 6855 §3: no CHARSET once UTF8=ACCEPT is enabled.
            self.bad(cmd.tag, "SEARCH CHARSET after ENABLE UTF8=ACCEPT")
            return
        if searchres.saves(returns):
            self.saved = []  # RFC 5182 §2.1: empty if this SEARCH fails

        def run() -> list[tuple[int, int, int]]:
            hits = []
            for msg in iter_messages(store, sel.name):
                msn = sel.msn(msg.uid)
                if msn == 0:
                    continue
                if searching.matches(
                    key,
                    msg,
                    msn,
                    largest_msn,
                    largest_uid,
                    functools.partial(store.open_message, msg.msgid),
                ):
                    hits.append((msn, msg.uid, msg.modseq))
            return hits

        hits = await self._thread(run)
        numbers = [uid if cmd.uid else msn for msn, uid, _ in hits]
        # RFC 7162 §3.1.5: with MODSEQ, the highest modseq of the matches.
        modseq = ""
        if uses_modseq(key):
            self.condstore = True
            if hits:
                modseq = str(max(m for _, _, m in hits))
        if returns is not None and searchres.saves(returns):
            self.saved = searchres.to_save(returns, [uid for _, uid, _ in hits])
        if searchres.only_saves(returns):
            pass  # RFC 5182 §2.4: no ESEARCH response
        elif returns is None and not self.rev2:
            line = "* SEARCH " + " ".join(map(str, numbers))
            if modseq:
                line += f" (MODSEQ {modseq})"
            self.send(line.rstrip().encode())
        else:
            opts = returns or ("ALL",)
            parts = [f'* ESEARCH (TAG "{cmd.tag}")']
            if cmd.uid:
                parts.append("UID")
            if numbers:
                if "MIN" in opts:
                    parts.append(f"MIN {min(numbers)}")
                if "MAX" in opts:
                    parts.append(f"MAX {max(numbers)}")
                if "ALL" in opts:
                    parts.append(f"ALL {format_uids(sorted(numbers))}")
            if "COUNT" in opts:
                parts.append(f"COUNT {len(numbers)}")
            if modseq:
                parts.append(f"MODSEQ {modseq}")
            self.send(" ".join(parts).encode())
        self.ok(cmd.tag, f"{'UID ' if cmd.uid else ''}SEARCH completed")

    async def cmd_store(self, cmd: Command) -> None:
        assert cmd.seqset is not None
        sel = self._sel()
        if sel.readonly:
            self.no(cmd.tag, "mailbox is read-only", "READ-ONLY")
            return
        uids = self._resolve(cmd.seqset, cmd.uid)
        system = {f.lower(): f for f in SYSTEM_FLAGS}
        flags = set()
        for f in cmd.flags:
            if f.lower() == "\\recent":
                continue
            if f.startswith("\\") and f.lower() not in system:
                raise InvalidFlag(f"unknown system flag {f}")
            flags.add(system.get(f.lower(), f))  # \SEEN is \Seen
        store = self._store()
        mode = {"+": "add", "-": "remove"}.get(cmd.store_mode, "replace")
        if cmd.unchangedsince is not None:
            self.condstore = True  # RFC 7162 §3.1: a CONDSTORE enabling command
        # One transaction, one modseq for the whole set (store.store_flags).
        result = await self._thread(
            functools.partial(
                store.store_flags, sel.name, uids, flags, mode, unchangedsince=cmd.unchangedsince
            )
        )
        # The junk filter learns from the flags set (training.py): on the
        # messages this STORE changed, which carry its modseq.
        if mode != "remove" and result.modseq:
            changed = [m.msgid for m in result.messages if m.modseq == result.modseq]
            verdict = training.verdict_for_flags(sel.name, flags, len(changed))
            if verdict is not None:
                await self._learn([(msgid, verdict) for msgid in changed])
        for msg in result.messages:
            msn = sel.msn(msg.uid)
            if not msn:
                continue
            sel.own[msg.uid] = msg.modseq
            if not cmd.silent:
                self._fetch_flags(msn, msg, with_uid=cmd.uid)
            elif self.condstore and result.modseq and msg.modseq == result.modseq:
                # RFC 7162 §3.1.3: MODSEQ of updated messages even with .SILENT
                self._fetch_flags(msn, msg, with_uid=cmd.uid, flags=False)
        if result.modified:
            numbers = result.modified if cmd.uid else sorted(sel.msn(u) for u in result.modified)
            self.ok(
                cmd.tag,
                "conditional STORE failed for some messages",
                f"MODIFIED {format_uids([n for n in numbers if n])}",
            )
            return
        self.ok(cmd.tag, f"{'UID ' if cmd.uid else ''}STORE completed")

    async def cmd_copy(self, cmd: Command, move: bool = False) -> None:
        assert cmd.seqset is not None
        sel = self._sel()
        if move and sel.readonly:
            self.no(cmd.tag, "mailbox is read-only", "READ-ONLY")
            return
        store = self._store()
        target_name = self.mailbox_in(cmd.mailbox)
        try:
            target = await self._thread(store.mailbox, target_name)
        except MailboxNotFound:
            self.no(cmd.tag, f"no mailbox {target_name!r}", "TRYCREATE")
            return
        if move and target.name == sel.name:
            self.no(cmd.tag, "source and target mailbox are the same", "CANNOT")
            return
        uids = self._resolve(cmd.seqset, cmd.uid)

        verdict = training.verdict_for_move(sel.name, target.name)
        learned: list[tuple[int, bool | None]] = []

        def run() -> list[tuple[int, int]]:
            pairs = []
            for msg in page_messages(store, sel.name, uids):
                try:
                    new = (
                        store.move(msg.msgid, target.name)
                        if move
                        else store.copy(msg.msgid, target.name)
                    )
                except MessageNotFound:
                    continue
                pairs.append((msg.uid, new.uid))
                learned.append((new.msgid, verdict))
            return pairs

        pairs = await self._thread(run)
        await self._learn(learned)
        code = ""
        if pairs:
            code = (
                f"COPYUID {target.uidvalidity} {format_uids([a for a, _ in pairs])} "
                f"{format_uids([b for _, b in pairs])}"
            )
        if move:
            if code:  # RFC 6851 §4.3: COPYUID in an untagged OK before the expunges
                self.send(f"* OK [{code}] moved".encode())
            await self._announce()
            self.ok(cmd.tag, f"{'UID ' if cmd.uid else ''}MOVE completed")
        else:
            if target.name == sel.name:
                await self._announce()
            self.ok(cmd.tag, f"{'UID ' if cmd.uid else ''}COPY completed", code)

    async def cmd_move(self, cmd: Command) -> None:
        await self.cmd_copy(cmd, move=True)

    async def _learn(self, verdicts: list[tuple[int, bool | None]]) -> None:
        """The junk filter learns the user's verdicts (in a thread; never fails)."""
        trainer = self.ctx.trainer
        if trainer is not None and any(v is not None for _, v in verdicts):
            await self._thread(training.learn, trainer, self.account, self._store(), verdicts)

    # -- QUOTA (RFC 9208) ---------------------------------------------------------

    async def _quota(self) -> tuple[int, int]:
        """(usage, limit) of the account in bytes; limit 0: no quota."""
        limit = self.ctx.quota(self.account)
        used = await self._thread(self._store().usage) if limit else 0
        return used, limit

    async def cmd_getquotaroot(self, cmd: Command) -> None:
        info = await self._thread(self._store().mailbox, self.mailbox_in(cmd.mailbox))
        used, limit = await self._quota()
        self.send(quota.quotaroot_line(self.mailbox_out(info.name), limit > 0))
        if limit:
            self.send(quota.quota_line(used, limit))
        self.ok(cmd.tag, "GETQUOTAROOT completed")

    async def cmd_getquota(self, cmd: Command) -> None:
        used, limit = await self._quota()
        if cmd.mailbox.decode("utf-8", "replace") != quota.ROOT or not limit:
            self.no(cmd.tag, "no such quota root", "NONEXISTENT")
            return
        self.send(quota.quota_line(used, limit))
        self.ok(cmd.tag, "GETQUOTA completed")

    async def cmd_setquota(self, cmd: Command) -> None:
        self.no(cmd.tag, "quotas are set by the administrator (domains.toml)", "NOPERM")


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


def _one_line(text: str) -> str:
    return " ".join(text.split())
