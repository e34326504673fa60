"""The connection before and around login: STARTTLS (RFC 9051 §6.2.1), LOGIN,
AUTHENTICATE with PLAIN and SCRAM-SHA-256 (RFC 4959 SASL-IR, RFC 7677), and
COMPRESS DEFLATE (RFC 4978)."""

from __future__ import annotations

import asyncio
import base64
import logging
import ssl

from postel.imapserver.command import Command
from postel.imapserver.compress import DeflatingWriter, InflatingReader
from postel.imapserver.reader import LineTooLong, read_line
from postel.imapserver.sessionbase import AUTH, AuthCancelled, SessionBase, SessionClosed
from postel.metrics import record as metrics
from postel.sasl import LoginRefused, SASLError, ScramServer, decode_plain, decode_text

log = logging.getLogger("postel.imapserver")

MAX_AUTH_FAILURES = 3  # failed logins of one connection before BYE


class AuthCommands(SessionBase):
    """TLS, login and compression of the connection."""

    async def cmd_starttls(self, cmd: Command) -> None:
        if self.tls or self.ctx.tls is None:
            self.bad(cmd.tag, "TLS is active already" if self.tls else "STARTTLS not available")
            return
        if self.raw[0]._buffer:  # type: ignore[attr-defined]
            # RFC 9051 §11.1: nothing sent before the handshake may be used after it.
            self.bad(cmd.tag, "data after STARTTLS before the TLS handshake")
            raise SessionClosed
        self.ok(cmd.tag, "begin TLS negotiation now")
        await self.flush()
        try:
            await self.raw[1].start_tls(self.ctx.tls)
        except (ssl.SSLError, OSError) as exc:
            log.info("imap starttls failed", extra={"ip": self.ip, "err": str(exc)})
            raise SessionClosed from None
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
        except AuthCancelled:
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
            raise AuthCancelled
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
            raise SessionClosed

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
