"""One IMAP connection: the states of RFC 9051 §3 (not authenticated,
authenticated, selected, logout) and the commands of each.

IMAP4rev1 (RFC 3501) unless the client ENABLEs IMAP4rev2 (RFC 9051 §6.3.1).
Store calls run in threads; message bodies are streamed from their files."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from postel.imapserver import searchres
from postel.imapserver.authcmds import AuthCommands
from postel.imapserver.binary import UnknownCTE
from postel.imapserver.command import Command, parse_command
from postel.imapserver.compress import CorruptStream
from postel.imapserver.errors import ParseError
from postel.imapserver.fetchstore import FetchStoreCommands
from postel.imapserver.literal import SpilledLiteral
from postel.imapserver.mailboxcmds import MailboxCommands
from postel.imapserver.movecmds import MoveCommands
from postel.imapserver.reader import LineTooLong, LiteralTooBig, read_command
from postel.imapserver.searchcmd import SearchCommand
from postel.imapserver.selectcmds import SelectCommands
from postel.imapserver.sessionbase import (
    ANY,
    AUTHED,
    LOGOUT,
    NOT_AUTH,
    SELECTED,
    SessionClosed,
    one_line,
)
from postel.imapserver.storing import StoringCommands
from postel.metrics import record as metrics
from postel.store import StoreError
from postel.store.errors import (
    InvalidFlag,
    MailboxExists,
    MailboxNotFound,
    OverQuota,
    StoreUnavailable,
)

log = logging.getLogger("postel.imapserver")

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


class Session(
    AuthCommands,
    MailboxCommands,
    SelectCommands,
    FetchStoreCommands,
    MoveCommands,
    SearchCommand,
    StoringCommands,
):
    """One IMAP connection: the command loop and the commands of any state;
    the other commands come from the mixins, one module per concern."""

    async def run(self) -> None:
        self.send(f"* OK [CAPABILITY {self.capabilities()}] postel IMAP ready".encode())
        try:
            while self.state != LOGOUT:
                await self.flush()
                await self._one()
            await self.flush()
        except SessionClosed:
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
            raise SessionClosed from None
        except LineTooLong:
            self.bad("*", f"command line longer than {self.limits.max_line} bytes")
            return
        except LiteralTooBig as exc:
            tag = exc.tag.decode("ascii", "replace")
            if not exc.synchronizing:  # its data is on the way: no way to resync
                self.send(f"* BYE [TOOBIG] {exc}".encode())
                await self.flush()
                raise SessionClosed from None
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
                self.no(cmd.tag, one_line(str(exc)), "OVERQUOTA")
            except StoreUnavailable as exc:  # RFC 5530 §3: a subsystem is down
                log.warning(
                    "imap command failed: store unavailable",
                    extra={"command": cmd.name, "ip": self.ip, "err": str(exc)},
                )
                self.no(cmd.tag, f"{cmd.name}: the mail store is unavailable", "UNAVAILABLE")
            except StoreError as exc:
                self.no(cmd.tag, one_line(str(exc)), "CANNOT")
            except (SessionClosed, ConnectionError, CorruptStream, EOFError, TimeoutError):
                raise
            except Exception:  # a bug: this command fails, the session goes on
                log.exception("imap command failed", extra={"command": cmd.name, "ip": self.ip})
                self.no(cmd.tag, f"{cmd.name} failed: internal error", "SERVERBUG")
        finally:
            metrics.imap_command(self.protocol, name, uid, time.monotonic() - started, self._tagged)
            for p in parts:
                if isinstance(p, SpilledLiteral):
                    p.discard()

    async def cmd_capability(self, cmd: Command) -> None:
        self.send(f"* CAPABILITY {self.capabilities()}".encode())
        self.ok(cmd.tag, "CAPABILITY completed")

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
