"""The SMTP state machine of one connection (RFC 5321 §4.1, §4.3.2).

Our own asyncio implementation instead of aiosmtpd: aiosmtpd keeps DATA in
memory, and REQUIRETLS, size/line/recipient limits with exact replies, error
counting and a session deadline would need overriding nearly every verb and
its private state; a direct state machine keeps these exact and testable.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import ssl
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from postel.dns import Answer
from postel.errors import PostelError
from postel.log import TRACE, cid_hex, trace_line
from postel.loginlimit import LoginLimiter
from postel.metrics import record as metrics
from postel.sasl import LoginRefused, PasswordCheck
from postel.smtp.address import Address
from postel.smtp.errors import ParameterError
from postel.smtp.params import parse_mail, parse_rcpt
from postel.smtp.quota import over_quota_reply
from postel.smtp.reply import Reply
from postel.smtpserver import sasl
from postel.smtpserver.conn import Conn
from postel.smtpserver.context import Kind, ServerContext
from postel.smtpserver.lines import BareLine, TooLong, line_fault, read_data, read_line
from postel.smtpserver.spool import Spool
from postel.smtpserver.transaction import SessionInfo, Transaction
from postel.store.errors import StoreUnavailable
from postel.store.routing import LocalRecipient, RecipientRefused, resolve

log = logging.getLogger("postel.smtpserver")

MAX_ERRORS = 10  # bad commands before the connection is closed
MAX_AUTH_FAILURES = 3
TLS_HANDSHAKE_TIMEOUT = 30.0


@functools.lru_cache(maxsize=256)
def _cached_reply(code: int, enhanced: str | None, text: str) -> tuple[Reply, bytes]:
    """Most replies are the same few (250 sender ok, ...): built and encoded once."""
    reply = Reply(code, enhanced, text)
    return reply, reply.encode()


class Closed(PostelError):
    """The session ends (client gone, QUIT, timeout or too many errors)."""


class Session:
    def __init__(
        self,
        ctx: ServerContext,
        kind: Kind,
        tls_context: ssl.SSLContext | None,
        conn: Conn,
        tmpdir: Path,
    ) -> None:
        self.ctx = ctx
        self.kind = kind
        self.tls_context = tls_context
        self.conn = conn
        self.tmpdir = tmpdir  # the data dir's tmp/, for messages too big for memory
        self.limits = ctx.cfg.static.limits
        self.hostname = ctx.cfg.static.hostname
        peer = conn.get_extra_info("peername")
        self.ip = str(peer[0]) if peer else "unknown"
        self.tls = conn.get_extra_info("ssl_object") is not None
        self.helo: str | None = None
        self.ehlo = False
        self.account: str | None = None
        self.tx: Transaction | None = None
        self.errors = 0
        self.auth_failures = 0
        self.last_code = 0  # of the last reply sent (for metrics)
        self.busy = False  # between end of DATA and the reply: do not cancel
        self.loop = asyncio.get_running_loop()
        # loop.time() is time.monotonic() (asyncio's event loops).
        self.deadline = self.loop.time() + self.limits.connection_timeout
        self.rdns_task: asyncio.Task[str | None] | None = None
        self.rdns: str | None = None  # known without a lookup (cached answer)

    # -- I/O ----------------------------------------------------------------

    def _timeout(self) -> float:
        left = self.deadline - self.loop.time()
        if left <= 0:
            raise TimeoutError
        return min(self.limits.command_timeout, left)

    async def _read(self, secret: bool = False) -> str | TooLong | BareLine:
        conn = self.conn
        now = self.loop.time()
        left = self.deadline - now
        # A complete line already buffered (pipelining) needs no wait.
        line: bytes | TooLong | None = conn.take_line() if left > 0 else None
        if line is None:
            try:
                if left <= 0:
                    raise TimeoutError
                if conn.must_drain:  # replies the client has not read yet
                    async with asyncio.timeout(min(self.limits.command_timeout, left)):
                        await conn.drain()
                # One timer per connection, not an asyncio.timeout per command.
                conn.set_timeout(now + min(self.limits.command_timeout, left))
                try:
                    line = await read_line(conn)
                finally:
                    conn.set_timeout(None)
            except TimeoutError:
                self._send(Reply(421, "4.4.2", f"{self.hostname} timeout, closing"))
                raise Closed("timeout") from None
            except (ConnectionError, ssl.SSLError) as exc:
                raise Closed(f"read: {exc}") from exc
        if line is None:
            raise Closed("client closed the connection")
        if isinstance(line, TooLong):
            trace_line(log, "C:", "<line too long>")
            return line
        fault = line_fault(line)
        if fault is not None:  # RFC 5321 §2.3.8: never run as (part of) a command
            trace_line(log, "C:", f"<line with {fault}>")
            return BareLine(fault)
        text = line[:-2].decode("utf-8", "surrogateescape")
        # AUTH with an initial response carries credentials (redacted unless traceauth).
        trace_line(log, "C:", text, secret=secret or text[:5].upper() == "AUTH ")
        return text

    def _send(self, reply: Reply, data: bytes | None = None) -> None:
        """Send *reply* (*data*: its encoding, when already known).

        Written to the transport at once; when the client does not read its
        replies, the next read waits for them to drain (bounded by the
        command timeout).
        """
        if log.isEnabledFor(TRACE):
            for line in reply.lines():
                trace_line(log, "S:", line)
        self.last_code = reply.code
        try:
            self.conn.write(data if data is not None else reply.encode())
        except (ConnectionError, ssl.SSLError) as exc:
            raise Closed(f"write: {exc}") from exc

    def reply(self, code: int, enhanced: str | None, text: str) -> None:
        self._reply(*_cached_reply(code, enhanced, text))

    def _reply(self, reply: Reply, data: bytes | None = None) -> None:
        self._send(reply, data)
        if reply.code >= 500:
            self.errors += 1
            if self.errors >= MAX_ERRORS:
                self._send(Reply(421, "4.7.0", "too many errors, closing"))
                raise Closed("too many errors")

    # -- main loop ------------------------------------------------------------

    async def run(self) -> None:
        log.info("new connection", extra={"ip": self.ip, "service": self.kind})
        self._start_rdns()
        try:
            self._send(*_cached_reply(220, None, f"{self.hostname} ESMTP postel"))
            while True:
                line = await self._read()
                if isinstance(line, TooLong):
                    self.reply(500, "5.5.2", "line too long")
                    continue
                if isinstance(line, BareLine):
                    self.reply(500, "5.5.2", f"{line.fault} received, lines end with <CR><LF>")
                    continue
                started, self.last_code = self.loop.time(), 0
                try:
                    await self._command(line)
                finally:
                    metrics.smtp_command(
                        self.kind, line, self.loop.time() - started, self.last_code
                    )
        except Closed as exc:
            log.info("connection closed", extra={"reason": str(exc), "ip": self.ip})
        finally:
            if self.rdns_task is not None and not self.rdns_task.done():
                self.rdns_task.cancel()
            await self.close()

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()  # sends what is buffered first
            if self.tls:  # the TLS close_notify exchange; TCP closes by itself
                async with asyncio.timeout(2):  # not wait_for: no task per connection
                    await self.conn.wait_closed()

    async def shutdown(self) -> None:
        """Tell the client we are going away (service stop)."""
        with contextlib.suppress(Exception):
            self.conn.write(Reply(421, "4.3.2", f"{self.hostname} shutting down").encode())
            await asyncio.wait_for(self.conn.drain(), 1)

    def _start_rdns(self) -> None:
        """Look up the client's name in the background (or take the cached answer)."""
        try:
            name = _reverse_name(self.ip)
        except ValueError:
            return
        peek = getattr(self.ctx.resolver, "peek", None)
        if peek is not None:
            cached = peek(name, "PTR")
            if cached is not None:
                self.rdns = _ptr_target(cached) if isinstance(cached, Answer) else None
                return
        self.rdns_task = self.loop.create_task(self._rdns(name))

    async def _rdns(self, name: str) -> str | None:
        try:
            async with asyncio.timeout(self.ctx.rdns_timeout):  # already in its own task
                answer = await self.ctx.resolver.lookup(name, "PTR")
            return _ptr_target(answer)
        except Exception:  # no name, timeouts, DNS errors: the IP is used
            return None

    async def _command(self, line: str) -> None:
        if not line.isascii():
            try:
                line.encode("utf-8")
            except UnicodeEncodeError:
                # Bytes that are not UTF-8 (kept as surrogates by _read): never valid
                # in a command (RFC 5321 §2.4, RFC 6531 §3.3); found by fuzzing.
                self.reply(500, "5.5.2", "command is not valid UTF-8")
                return
        verb, _, arg = line.partition(" ")
        verb = verb.upper()
        handler = _HANDLERS.get(verb)
        if handler is not None:
            later = handler(self, arg.strip(" "))  # answered at once, mostly
            if later is not None:
                await later
            return
        slow = _ASYNC_HANDLERS.get(verb)
        if slow is None:
            self.reply(500, "5.5.2", "command not recognized")
            return
        await slow(self, arg.strip(" "))

    # -- extensions -------------------------------------------------------------

    @property
    def submission(self) -> bool:
        return self.kind != "smtp"

    def _ext_state(self) -> tuple[int, bool, bool, bool]:
        """What the offered extensions depend on (the key of their caches)."""
        return (
            self.limits.max_message_size,
            self.tls,
            self.tls_context is not None,
            self.submission,
        )

    def extensions(self) -> list[str]:
        return list(_extensions(*self._ext_state()))

    def _param_keywords(self) -> frozenset[str]:
        if not self.ehlo:
            return frozenset()
        return _param_keywords(*self._ext_state())

    # -- commands ---------------------------------------------------------------

    def cmd_ehlo(self, arg: str) -> None:
        if not arg:
            self.reply(501, "5.5.4", "EHLO needs a domain or address literal")
            return
        self.helo, self.ehlo, self.tx = arg.split(" ")[0], True, None
        lines = [f"{self.hostname} greets {self.helo}", *self.extensions()]
        self._send(*_cached_reply(250, None, "\n".join(lines)))

    def cmd_helo(self, arg: str) -> None:
        if not arg:
            self.reply(501, "5.5.4", "HELO needs a domain")
            return
        self.helo, self.ehlo, self.tx = arg.split(" ")[0], False, None
        self._send(Reply(250, None, f"{self.hostname} greets {self.helo}"))

    def cmd_rset(self, arg: str) -> None:
        self.tx = None
        self.reply(250, "2.0.0", "reset")

    def cmd_noop(self, arg: str) -> None:
        self.reply(250, "2.0.0", "ok")

    def cmd_quit(self, arg: str) -> None:
        self.reply(221, "2.0.0", f"{self.hostname} closing")
        raise Closed("quit")

    def cmd_vrfy(self, arg: str) -> None:
        # RFC 5321 §3.5.3: 252 when not verifying (no address harvesting).
        self.reply(252, "2.5.0", "cannot verify, but will try delivery")

    def cmd_help(self, arg: str) -> None:
        self.reply(214, "2.0.0", "see RFC 5321")

    async def cmd_starttls(self, arg: str) -> None:
        if self.tls:
            self.reply(503, "5.5.1", "TLS already active")
            return
        if self.tls_context is None:
            self.reply(502, "5.5.1", "STARTTLS not available")
            return
        if arg:
            self.reply(501, "5.5.4", "STARTTLS takes no parameters")
            return
        # RFC 3207 §4.2 / CVE-2011-0411: nothing may be pipelined after STARTTLS.
        if self.conn.buffered:
            self._send(Reply(554, "5.5.1", "data pipelined after STARTTLS, closing"))
            raise Closed("pipelined data after STARTTLS")
        # No await between writing 220 and start_tls (which pauses reading at
        # once): else the client's ClientHello could land in the stream buffer.
        ready = Reply(220, "2.0.0", "ready to start TLS")
        trace_line(log, "S:", ready.lines()[0])
        # The handshake is bounded by the session's deadline too.
        timeout = min(TLS_HANDSHAKE_TIMEOUT, max(self.deadline - self.loop.time(), 0.01))
        try:
            self.conn.write(ready.encode())
            await self.conn.start_tls(self.tls_context, timeout)
        except (OSError, ssl.SSLError, TimeoutError, ConnectionError) as exc:
            log.info("tls handshake failed", extra={"err": str(exc), "ip": self.ip})
            raise Closed(f"tls handshake: {exc}") from exc
        self.tls = True
        # RFC 3207 §4.2: forget everything learned before TLS.
        self.helo, self.ehlo, self.tx, self.account = None, False, None, None
        log.debug("tls started", extra=self._tls_extra())

    def _tls_info(self) -> tuple[str | None, str | None]:
        obj = self.conn.get_extra_info("ssl_object")
        if obj is None:
            return None, None
        cipher = obj.cipher()
        return obj.version(), (cipher[0] if cipher else None)

    def _tls_extra(self) -> dict[str, str]:
        version, cipher = self._tls_info()
        return {"version": version or "", "cipher": cipher or ""}

    # -- AUTH (RFC 4954) ---------------------------------------------------------

    async def cmd_auth(self, arg: str) -> None:
        if not self.submission:
            self.reply(503, "5.5.1", "AUTH only on the submission ports")
            return
        if not self.tls:
            self.reply(538, "5.7.11", "encryption required: use STARTTLS first")
            return
        if not self.ehlo:
            self.reply(503, "5.5.1", "send EHLO first")
            return
        if self.account is not None:
            self.reply(503, "5.5.1", "already authenticated")
            return
        if self.tx is not None:
            self.reply(503, "5.5.1", "AUTH not allowed during a mail transaction")
            return
        mech, _, initial = arg.partition(" ")
        mech = mech.upper()
        try:
            if mech == "PLAIN":
                response = initial or await self._challenge("")
                authzid, user, password = sasl.decode_plain(response)
                if authzid and authzid != user:
                    self.reply(535, "5.7.8", "authorization identity not allowed")
                    await self._auth_failed(user)
                    return
            elif mech == "SCRAM-SHA-256":
                await self._scram(initial)
                return
            elif mech == "LOGIN":
                user = sasl.decode_text(initial or await self._challenge(sasl.LOGIN_USERNAME))
                password = sasl.decode_text(await self._challenge(sasl.LOGIN_PASSWORD))
            else:
                self.reply(504, "5.5.4", f"mechanism {mech or '(none)'} not supported")
                return
        except _Cancelled:
            self.reply(501, "5.0.0", "authentication cancelled")
            return
        except sasl.SASLError as exc:
            self.reply(501, "5.5.2", f"malformed authentication response: {exc}")
            return
        logins = self._logins()
        if logins is None:
            self.reply(454, "4.7.0", "temporary authentication failure")
            return
        try:
            account = await logins.check(self.ip, user, password)
        except LoginRefused as exc:
            await self._refused(user, exc.wait)
            return
        except StoreUnavailable as exc:
            self._auth_unavailable(exc)
            return
        if account is None:
            self.reply(535, "5.7.8", "authentication failed")
            await self._auth_failed(user)
            return
        self.account = account
        log.info("authenticated", extra={"account": account, "mechanism": mech})
        metrics.authentication(self.kind, "success")
        self.reply(235, "2.7.0", "authentication successful")

    async def _scram(self, initial: str) -> None:
        """SCRAM-SHA-256 exchange (RFC 5802 §5, RFC 4954 §4 for the final data)."""
        server = sasl.ScramServer(sasl.decode_text(initial or await self._challenge("")))
        user = server.username
        logins = self._logins()
        if logins is None:
            self.reply(454, "4.7.0", "temporary authentication failure")
            return
        try:
            # Names without a password get decoy keys: the same salt for the same
            # name every time and the usual iteration count, as a real account.
            keys = await logins.scram_keys(self.ip, user)
        except LoginRefused as exc:
            await self._refused(user, exc.wait)
            return
        except StoreUnavailable as exc:
            self._auth_unavailable(exc)
            return
        first = server.first(keys.salt, keys.iterations)
        response = sasl.decode_text(await self._challenge(_b64(first)))
        final = server.final(response, keys.stored_key, keys.server_key)
        account = keys.account
        if final is None or (server.authzid and server.authzid != user) or account is None:
            self.reply(535, "5.7.8", "authentication failed")
            await self._auth_failed(user)
            return
        await logins.succeeded(keys.attempt)
        await self._challenge(_b64(final))  # the client answers with an empty line
        self.account = account
        log.info("authenticated", extra={"account": account, "mechanism": "SCRAM-SHA-256"})
        metrics.authentication(self.kind, "success")
        self.reply(235, "2.7.0", "authentication successful")

    async def _challenge(self, text: str) -> str:
        self._send(Reply(334, None, text))
        line = await self._read(secret=True)
        if isinstance(line, TooLong):
            raise sasl.SASLError("response too long")
        if isinstance(line, BareLine):
            raise sasl.SASLError(f"{line.fault} in the response")
        if line == "*":
            raise _Cancelled
        return line

    def _logins(self) -> PasswordCheck | None:
        """The password check shared with IMAP (postel.sasl); None without auth.db."""
        creds = self.ctx.credentials
        if creds is None:
            return None
        limiter = self.ctx.limiter
        if limiter is None:  # a context made without SMTPService.start()
            cfg = self.ctx.cfg
            limiter = LoginLimiter(cfg.datadir.auth_db, cfg.static.login_limit.settings())
            self.ctx.limiter = limiter
        ctx = self.ctx
        return PasswordCheck(lambda: ctx.cfg.domains, creds, limiter)

    def _auth_unavailable(self, exc: StoreUnavailable) -> None:
        """The passwords cannot be read (a shared database down): RFC 4954 §6,
        454 4.7.0 temporary authentication failure."""
        log.warning("authentication unavailable", extra={"err": str(exc), "ip": self.ip})
        self.reply(454, "4.7.0", "temporary authentication failure")

    async def _refused(self, user: str, wait: int) -> None:
        """The login limiter makes this client or account wait (postel.loginlimit)."""
        log.info("authentication refused", extra={"ip": self.ip, "wait": wait})
        log.log(TRACE, "authentication refused", extra={"user": user, "ip": self.ip})
        # RFC 4954 §6: 454 4.7.0 temporary authentication failure.
        self.reply(454, "4.7.0", f"too many failed logins, try again in {wait} seconds")
        await self._auth_failed(user, counted=False)

    async def _auth_failed(self, user: str, *, counted: bool = True) -> None:
        metrics.authentication(self.kind, "failure" if counted else "ratelimited")
        self.auth_failures += 1
        if counted:
            # The name may be a mistyped password: trace level only.
            log.info("authentication failed", extra={"ip": self.ip})
            log.log(TRACE, "authentication failed", extra={"user": user, "ip": self.ip})
        await asyncio.sleep(self.ctx.auth_failure_delay * self.auth_failures)
        if self.auth_failures >= MAX_AUTH_FAILURES:
            self._send(Reply(421, "4.7.0", "too many authentication failures"))
            raise Closed("too many authentication failures")

    # -- mail transaction -----------------------------------------------------------

    def cmd_mail(self, arg: str) -> None:
        if self.helo is None:
            self.reply(503, "5.5.1", "send EHLO first")
            return
        if self.tx is not None:
            self.reply(503, "5.5.1", "nested MAIL command")
            return
        if self.submission and self.account is None:
            self.reply(530, "5.7.0", "authentication required")
            return
        try:
            cmd = parse_mail(arg, self._param_keywords())
        except ParameterError as exc:
            self.reply(exc.code, exc.enhanced, exc.text)
            return
        params = cmd.params
        if params.requiretls and not self.tls:
            self.reply(530, "5.7.10", "REQUIRETLS only over TLS (RFC 8689 §4)")
            return
        if params.size is not None and params.size > self.limits.max_message_size:
            self.reply(552, "5.3.4", f"message too big, max {self.limits.max_message_size}")
            return
        if self.submission:
            assert self.account is not None
            from postel.smtpserver.submission import sender_allowed

            if cmd.sender is None or not sender_allowed(self.ctx.cfg, self.account, cmd.sender):
                self.reply(553, "5.7.1", "sender address not allowed for this account")
                return
        self.tx = Transaction(cmd.sender, params, started=datetime.now(UTC))
        self.reply(250, "2.1.0", "sender ok")

    def cmd_rcpt(self, arg: str) -> Awaitable[None] | None:
        """Answered at once, unless a recipient account has a quota to check."""
        tx = self.tx
        if tx is None:
            self.reply(503, "5.5.1", "send MAIL first")
            return None
        if len(tx.recipients) >= self.limits.max_recipients:
            self.reply(452, "4.5.3", "too many recipients")
            return None
        try:
            cmd = parse_rcpt(arg, smtputf8=tx.params.smtputf8)
        except ParameterError as exc:
            self.reply(exc.code, exc.enhanced, exc.text)
            return None
        if self.submission and not cmd.postmaster:
            tx.recipients.append(cmd.recipient)
            self.reply(250, "2.1.5", "recipient ok")
            return None
        try:
            local = resolve(self.ctx.cfg, cmd.recipient, postmaster=cmd.postmaster)
        except RecipientRefused as exc:
            log.info("recipient refused", extra={"rcpt": str(cmd.recipient), "ip": self.ip})
            self._reply(exc.reply)
            return None
        store = self.ctx.store
        if any(store.quota_of(account) for account, _ in local.deliveries):
            return self._rcpt_quota(tx, cmd.recipient, local)
        tx.recipients.append(cmd.recipient)
        tx.local.append(local)
        self.reply(250, "2.1.5", "recipient ok")
        return None

    async def _rcpt_quota(self, tx: Transaction, rcpt: Address, local: LocalRecipient) -> None:
        """RCPT of an account with a quota: refused while the account is full,
        or when the declared SIZE (RFC 1870) does not fit (postel.smtp.quota)."""
        accounts = [account for account, _ in local.deliveries]
        over = await asyncio.to_thread(self.ctx.store.check_quota, accounts, tx.params.size or 0)
        if over is not None:
            log.info("recipient over quota", extra={"rcpt": str(rcpt), "account": over.account})
            self._reply(over_quota_reply(over))
            return
        tx.recipients.append(rcpt)
        tx.local.append(local)
        self.reply(250, "2.1.5", "recipient ok")

    async def cmd_data(self, arg: str) -> None:
        tx = self.tx
        if tx is None:
            self.reply(503, "5.5.1", "send MAIL first")
            return
        if arg:
            self.reply(501, "5.5.4", "DATA takes no parameters")
            return
        if not tx.recipients:
            self.reply(554, "5.5.1", "no valid recipients")
            return
        self._send(*_cached_reply(354, None, "end data with <CR><LF>.<CR><LF>"))
        spool = Spool(self._spool_path())
        try:
            await self._receive(tx, spool)
        finally:
            self.tx = None
            spool.remove()

    def _spool_path(self) -> Path:
        # The data dir's tmp/ exists (SMTPService.start); only big messages use it.
        return self.tmpdir / f"smtp-{cid_hex()}-{os.urandom(6).hex()}"

    async def _receive(self, tx: Transaction, spool: Spool) -> None:
        try:
            result = await read_data(
                self.conn,
                spool,  # type: ignore[arg-type]
                max_size=self.limits.max_message_size,
                max_line=self.limits.max_line_length,
                line_timeout=self._timeout(),
                deadline=self.deadline,  # the whole session's, however the data trickles
            )
        except TimeoutError:
            self._send(Reply(421, "4.4.2", "timeout during DATA, closing"))
            raise Closed("timeout in DATA") from None
        except (ConnectionError, ssl.SSLError) as exc:
            raise Closed(f"read in DATA: {exc}") from exc
        finally:
            spool.close()
        trace_line(log, "C:", f"<{result.size} bytes of data>", data=True)
        if result.eof:
            raise Closed("client closed the connection during DATA")
        if result.fault is not None:
            # SMTP smuggling (CVE-2023-51764 class): refused whole, as Postfix's
            # smtpd_forbid_bare_newline = reject; the reply follows the real end.
            log.info("message refused", extra={"reason": result.fault, "ip": self.ip})
            self.reply(550, "5.5.2", f"{result.fault} received, lines end with <CR><LF>")
            return
        if result.too_big:
            self.reply(552, "5.3.4", f"message too big, max {self.limits.max_message_size}")
            return
        if result.line_too_long:
            self.reply(500, "5.5.2", f"line too long, max {self.limits.max_line_length}")
            return
        info = await self._session_info()
        self.busy = True
        try:
            if self.submission:
                from postel.smtpserver.submission import submit

                assert self.account is not None
                reply = await submit(self.ctx, info, tx, spool.path, self.account, spool.data())
                metrics.message_received(self.kind, reply.code)
                self._reply(reply)
            else:
                from postel.smtpserver.incoming import deliver

                outcome = await deliver(self.ctx, info, tx, spool.path, spool.data())
                metrics.message_received(self.kind, outcome.reply.code)
                try:
                    self._reply(outcome.reply)
                finally:
                    outcome.after(self.ctx)
        finally:
            self.busy = False

    async def _session_info(self) -> SessionInfo:
        rdns = self.rdns
        if self.rdns_task is not None:
            with contextlib.suppress(Exception):
                rdns = await self.rdns_task
        version, cipher = self._tls_info()
        return SessionInfo(
            ip=self.ip,
            helo=self.helo or "",
            ehlo=self.ehlo,
            rdns=rdns,
            cid=cid_hex(),
            tls_version=version,
            tls_cipher=cipher,
            account=self.account,
        )


# Commands answered at once, and those that wait (I/O, TLS, credentials).
_HANDLERS: dict[str, Callable[[Session, str], Awaitable[None] | None]] = {
    "EHLO": Session.cmd_ehlo,
    "HELO": Session.cmd_helo,
    "MAIL": Session.cmd_mail,
    "RCPT": Session.cmd_rcpt,
    "RSET": Session.cmd_rset,
    "NOOP": Session.cmd_noop,
    "QUIT": Session.cmd_quit,
    "VRFY": Session.cmd_vrfy,
    "HELP": Session.cmd_help,
}
_ASYNC_HANDLERS: dict[str, Callable[[Session, str], Awaitable[None]]] = {
    "DATA": Session.cmd_data,
    "STARTTLS": Session.cmd_starttls,
    "AUTH": Session.cmd_auth,
}


@functools.lru_cache(maxsize=64)
def _extensions(max_size: int, tls: bool, can_starttls: bool, submission: bool) -> tuple[str, ...]:
    """The EHLO keywords (RFC 5321 §4.1.1.1) offered in this session state."""
    ext = ["PIPELINING", f"SIZE {max_size}", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES"]
    if not tls and can_starttls:
        ext.append("STARTTLS")
    if tls:
        ext.append("REQUIRETLS")  # RFC 8689 §4: only offered over TLS
        if submission:
            ext.append("AUTH SCRAM-SHA-256 PLAIN LOGIN")
    return tuple(ext)


@functools.lru_cache(maxsize=64)
def _param_keywords(
    max_size: int, tls: bool, can_starttls: bool, submission: bool
) -> frozenset[str]:
    """MAIL/RCPT parameter keywords accepted after EHLO in this session state."""
    words = {e.split(" ")[0] for e in _extensions(max_size, tls, can_starttls, submission)}
    # Refused in cmd_mail with a clearer reply than "not supported" when not on TLS.
    words.add("REQUIRETLS")
    return frozenset(words)


@functools.lru_cache(maxsize=1024)
def _reverse_name(ip: str) -> str:
    """The PTR name of *ip* (RFC 1035 §3.5, RFC 3596 §2.5); ValueError if not an IP."""
    import ipaddress

    return ipaddress.ip_address(ip).reverse_pointer


def _ptr_target(answer: Answer) -> str | None:
    for record in answer.records:
        return str(getattr(record, "target", record)).rstrip(".").lower()
    return None


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()


class _Cancelled(Exception):
    """The client answered ``*`` to an AUTH challenge (RFC 4954 §4)."""
