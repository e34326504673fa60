"""One SMTP session to one host IP: banner, EHLO, STARTTLS per TLS policy, PKIX
and DANE evaluation, MAIL/RCPT/DATA and QUIT (RFC 5321, RFC 3207, RFC 7672,
RFC 8689; docs/delivery-policy.md, docs/tls-reporting.md).

Never raises for remote problems: everything ends up in the SessionResult.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Sequence
from pathlib import Path

from postel.dane import TLSARecord, usable_records, verify_chain
from postel.errors import SMTPReplyError
from postel.log import trace_line
from postel.smtp.reply import Reply
from postel.smtpclient.classify import classify_tls_error, is_timeout
from postel.smtpclient.dotstuff import CHUNK, DotStuffer
from postel.smtpclient.errors import ProtocolError
from postel.smtpclient.pkix import verify_pkix
from postel.smtpclient.policy import TLSPolicy
from postel.smtpclient.replies import MAX_LINE, PeerClosed, parse_ehlo, read_reply
from postel.smtpclient.result import DataReply, RcptResult, SessionResult
from postel.smtpclient.scache import CacheKey, Connection, SessionCache
from postel.smtpclient.tlsmode import TLSMode
from postel.tlsrpt.report import FailureDetails, ResultType

_log = logging.getLogger("postel.smtpclient")

# RFC 5321 §4.5.3.2.6: wait up to 10 minutes for the reply to the end of data.
DATA_END_TIMEOUT = 600.0
QUIT_TIMEOUT = 5.0
RSET_TIMEOUT = 20.0  # a cached connection that does not answer is replaced (Postfix: 20 s)


def client_context() -> ssl.SSLContext:
    """TLS >= 1.2 without verification: PKIX and DANE are evaluated afterwards,
    so both can be reported (docs/delivery-policy.md)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.options |= ssl.OP_NO_COMPRESSION
    return ctx


def peer_chain(writer: asyncio.StreamWriter) -> list[bytes]:
    """The certificates the peer sent (leaf first), DER.

    Python 3.11 has no public API for the unverified chain (3.13 has); the C
    object underneath the SSLObject offers it. Falls back to the leaf only.
    """
    obj = writer.get_extra_info("ssl_object")
    if obj is None:
        return []
    inner = getattr(obj, "_sslobj", None)
    getter = getattr(inner, "get_unverified_chain", None) or getattr(
        obj, "get_unverified_chain", None
    )
    if getter is not None:
        try:
            chain = getter()
            if chain:
                return [c.public_bytes(ssl._ssl.ENCODING_DER) for c in chain]  # type: ignore[attr-defined]
        except (AttributeError, ValueError, ssl.SSLError):
            pass
    leaf = obj.getpeercert(binary_form=True)
    return [leaf] if leaf else []


def _path(addr: str) -> str:
    return f"<{addr}>"


class _Done(Exception):
    """Internal: the session has ended; the result is complete."""


class _Session:
    def __init__(
        self,
        *,
        host: str,
        ip: str,
        port: int,
        tls: TLSPolicy,
        ehlo_name: str,
        mail_from: str,
        rcpts: Sequence[str],
        message: Path,
        requiretls: bool,
        smtputf8: bool,
        eightbit: bool,
        connect_timeout: float,
        command_timeout: float,
        data_end_timeout: float,
        log: logging.Logger,
        cache: SessionCache | None = None,
    ) -> None:
        self.host = host.rstrip(".")
        self.ip, self.port, self.policy = ip, port, tls
        self.ehlo_name, self.mail_from, self.rcpts = ehlo_name, mail_from, list(rcpts)
        self.message, self.requiretls = message, requiretls
        self.smtputf8, self.eightbit = smtputf8, eightbit
        self.connect_timeout, self.command_timeout = connect_timeout, command_timeout
        self.data_end_timeout = data_end_timeout
        self.log = log
        self.r = SessionResult(host=self.host, ip=ip, port=port)
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.local_ip = ""
        self.step = "connect"
        self.first_tls_read = False
        self.messages = 0  # earlier transactions on this connection
        self.cache = cache
        self.keep = False  # hand the connection to the cache at the end
        self.key: CacheKey = (self.host, ip, port, ehlo_name, (requiretls, tls.cache_key()))

    # -- helpers -------------------------------------------------------------------

    def fail(self, *, code: int, enhanced: str, message: str) -> _Done:
        self.r.error = SMTPReplyError(code, enhanced, message)
        return _Done()

    def reply_error(self, reply: Reply, what: str) -> _Done:
        text = reply.text.replace("\n", " ")
        return self.fail(
            code=reply.code,
            enhanced=reply.enhanced or "",
            message=f"{what}: remote replied {reply.code} {text}",
        )

    def detail(self, result_type: ResultType | str, reason: str, info: str) -> FailureDetails:
        return FailureDetails(
            result_type=result_type,
            sending_mta_ip=self.local_ip,
            receiving_mx_hostname=self.host,
            receiving_mx_helo=self.r.receiving_mx_helo,
            receiving_ip=self.ip,
            failed_session_count=1,
            additional_information=info,
            failure_reason_code=reason,
        )

    async def send(self, line: str, *, log_line: str | None = None) -> None:
        await self.send_group([line], log_line=log_line)

    async def send_group(self, lines: Sequence[str], *, log_line: str | None = None) -> None:
        """Commands in one write: one, or a group of pipelined ones (RFC 2920 §3.1)."""
        assert self.writer is not None
        out = []
        for line in lines:
            if "\r" in line or "\n" in line or "\x00" in line:
                # RFC 5321 §2.3.8: one command, one CRLF; never a second command inside.
                raise self.fail(
                    code=0, enhanced="5.5.2",
                    message=f"{self.step}: command holds a CR, LF or NUL, not sent",
                )  # fmt: skip
            out.append(line.encode("utf-8") + b"\r\n")
        for line in lines:
            trace_line(self.log, "C:", log_line if log_line is not None else line)
        self.writer.write(b"".join(out))
        async with asyncio.timeout(self.command_timeout):
            await self.writer.drain()

    async def read(self, timeout: float | None = None) -> Reply:
        assert self.reader is not None
        if not self.first_tls_read:
            return await read_reply(self.reader, timeout or self.command_timeout, self.log)
        # Reference §1: a TLS alert on the first read after the handshake turns
        # the success into a failure (TLS 1.3 servers reject after the handshake).
        self.first_tls_read = False
        try:
            return await read_reply(self.reader, timeout or self.command_timeout, self.log)
        except ssl.SSLError as exc:
            failure = classify_tls_error(exc)
            self.r.tls_success = False
            self.r.tls_failure = self.detail(failure.result_type, failure.reason, failure.detail)
            self.log.info("tls alert after handshake", extra={"err": str(exc), "ip": self.ip})
            raise self.fail(
                code=0,
                enhanced="4.7.5",
                message=f"TLS error after handshake with {self.ip}: {failure.detail}",
            ) from exc

    async def command(self, line: str, timeout: float | None = None) -> Reply:
        await self.send(line)
        return await self.read(timeout)

    # -- the conversation --------------------------------------------------------------

    async def run(self) -> None:
        if self.cache is not None and await self.resume(self.cache):
            await self.transaction()
            return
        await self.connect()
        if self.policy.mode == TLSMode.IMMEDIATE:
            await self.handshake()
        self.step = "banner"
        banner = await self.read()
        self.r.banner = banner.text.split("\n", 1)[0]
        if banner.code != 220:
            raise self.reply_error(banner, "greeting")
        await self.hello()
        mode = self.policy.mode
        if mode == TLSMode.STARTTLS_REQUIRED or (
            mode == TLSMode.OPPORTUNISTIC and self.r.starttls_offered
        ):
            await self.starttls()
        await self.transaction()

    async def resume(self, cache: SessionCache) -> bool:
        """Continue a cached session of the same key with RSET (RFC 5321 §4.1.1.5);
        False when none is cached or none answers 250 (then nothing was sent
        that starts a transaction, and a new connection is made)."""
        while (conn := cache.take(self.key)) is not None:
            self.reader, self.writer = conn.reader, conn.writer
            self.step = "RSET"
            try:
                await self.send("RSET")
                reply = await self.read(min(self.command_timeout, RSET_TIMEOUT))
            except (
                _Done,
                ProtocolError,
                PeerClosed,
                OSError,
                TimeoutError,
                EOFError,
                ssl.SSLError,
            ):
                reply = None
            if reply is not None and reply.code == 250:
                self.adopt(conn)
                self.log.debug(
                    "reusing connection",
                    extra={"host": self.host, "ip": self.ip, "count": conn.messages},
                )
                return True
            self.log.debug(
                "cached connection unusable",
                extra={"host": self.host, "ip": self.ip, "reply": reply and reply.code},
            )
            cache.discard(conn)
            self.reader = self.writer = None
        self.r = SessionResult(host=self.host, ip=self.ip, port=self.port)
        return False

    def adopt(self, conn: Connection) -> None:
        """Take over what the cached session learned; counted as a reused session."""
        r = self.r
        r.connected = r.reused = True
        r.banner, r.receiving_mx_helo = conn.banner, conn.receiving_mx_helo
        r.extensions = dict(conn.extensions)
        r.tls, r.tls_version, r.cipher = conn.tls, conn.tls_version, conn.cipher
        r.starttls_offered, r.requiretls_offered = conn.starttls_offered, conn.requiretls_offered
        r.pkix_ok, r.dane = conn.pkix_ok, conn.dane
        r.tls_success = conn.tls
        self.local_ip = conn.local_ip
        self.messages = conn.messages

    def detach(self) -> Connection:
        """The open session as a cache entry."""
        assert self.reader is not None and self.writer is not None
        r = self.r
        conn = Connection(
            key=self.key,
            reader=self.reader,
            writer=self.writer,
            local_ip=self.local_ip,
            banner=r.banner,
            receiving_mx_helo=r.receiving_mx_helo,
            extensions=dict(r.extensions),
            tls=r.tls,
            tls_version=r.tls_version,
            cipher=r.cipher,
            starttls_offered=r.starttls_offered,
            requiretls_offered=r.requiretls_offered,
            pkix_ok=r.pkix_ok,
            dane=r.dane,
            messages=self.messages,
        )
        self.reader = self.writer = None
        return conn

    async def connect(self) -> None:
        self.step = "connect"
        try:
            async with asyncio.timeout(self.connect_timeout):
                self.reader, self.writer = await asyncio.open_connection(
                    self.ip, self.port, limit=MAX_LINE + 2
                )
        except (OSError, TimeoutError) as exc:
            what = "timeout" if is_timeout(exc) else str(exc) or type(exc).__name__
            raise self.fail(
                code=0,
                enhanced="4.4.1",
                message=f"connecting to {self.ip} port {self.port}: {what}",
            ) from exc
        self.r.connected = True
        sock = self.writer.get_extra_info("sockname")
        if sock:
            self.local_ip = str(sock[0])
        self.log.debug("connected", extra={"host": self.host, "ip": self.ip, "port": self.port})

    async def hello(self) -> None:
        self.step = "EHLO"
        reply = await self.command(f"EHLO {self.ehlo_name}")
        if reply.code == 250:
            helo, exts = parse_ehlo(reply)
        elif reply.code >= 500:
            # RFC 5321 §3.2: a server without EHLO support; fall back to HELO.
            self.step = "HELO"
            reply = await self.command(f"HELO {self.ehlo_name}")
            if reply.code != 250:
                raise self.reply_error(reply, "HELO")
            helo, exts = reply.text.split("\n", 1)[0].split(" ", 1)[0], {}
        else:
            raise self.reply_error(reply, "EHLO")
        self.r.receiving_mx_helo = helo
        self.r.extensions = exts
        # With immediate TLS, verification ran before the greeting was known.
        for d in (self.r.pkix_failure, self.r.dane_failure, self.r.tls_failure):
            if d is not None and not d.receiving_mx_helo:
                d.receiving_mx_helo = helo
        if not self.r.tls:
            self.r.starttls_offered = "STARTTLS" in exts
        self.r.requiretls_offered = "REQUIRETLS" in exts

    async def starttls(self) -> None:
        self.step = "STARTTLS"
        reply = await self.command("STARTTLS")
        if reply.code != 220:
            text = f"STARTTLS refused: {reply.code} {reply.text}".replace("\n", " ")
            self.r.tls_failure = self.detail(ResultType.STARTTLS_NOT_SUPPORTED, "", text)
            if self.policy.mode == TLSMode.OPPORTUNISTIC:
                # The session state is unchanged after a refused STARTTLS: go on in plaintext.
                self.log.info("starttls refused, continuing without tls", extra={"ip": self.ip})
                return
            raise self.fail(code=0, enhanced="4.7.10", message=text)
        await self.handshake()
        self.step = "EHLO after STARTTLS"
        # RFC 3207 §4.2: forget what was learned before TLS.
        await self.hello()

    async def handshake(self) -> None:
        self.step = "TLS handshake"
        assert self.writer is not None
        sni = self.policy.sni(self.host)
        try:
            await self.writer.start_tls(
                client_context(),
                server_hostname=sni or None,
                ssl_handshake_timeout=self.command_timeout,
            )
        except (OSError, ssl.SSLError, TimeoutError, EOFError) as exc:
            failure = classify_tls_error(exc)
            self.r.tls_failure = self.detail(failure.result_type, failure.reason, failure.detail)
            self.log.info(
                "tls handshake failed",
                extra={"err": failure.detail, "ip": self.ip, "reason": failure.reason},
            )
            raise self.fail(
                code=0,
                enhanced="4.7.5",
                message=f"TLS handshake with {self.ip}: {failure.detail}",
            ) from exc
        self.r.tls = True
        obj = self.writer.get_extra_info("ssl_object")
        if obj is not None:
            self.r.tls_version = obj.version() or ""
            cipher = obj.cipher()
            self.r.cipher = cipher[0] if cipher else ""
        self.verify(peer_chain(self.writer))
        self.r.tls_success = True
        self.first_tls_read = True
        self.log.debug(
            "tls established",
            extra={"version": self.r.tls_version, "cipher": self.r.cipher, "sni": sni},
        )

    def verify(self, chain: list[bytes]) -> None:
        """Evaluate PKIX and DANE (always, for reporting) and enforce per policy."""
        pol = self.policy
        pkix = verify_pkix(chain, pol.pkix_reference(self.host), extra_ca_files=pol.extra_ca_files)
        self.r.pkix_ok = pkix.ok
        if not pkix.ok and pkix.result_type is not None:
            self.r.pkix_failure = self.detail(pkix.result_type, "", pkix.detail)
        usable: list[TLSARecord] = usable_records(pol.dane_records)
        dane_ok = True
        if pol.dane_records:
            names = pol.allowed_names or [pol.pkix_reference(self.host)]
            self.r.dane = verify_chain(chain, pol.dane_records, names, log=self.log)
            # With only unusable records there is nothing to verify (RFC 7672 §2.2);
            # the tlsa-invalid result comes from the TLSA lookup, not from here.
            if usable and not self.r.dane.matched:
                dane_ok = False
                vr = self.r.dane
                self.r.dane_failure = self.detail(
                    vr.result_type or ResultType.VALIDATION_FAILURE,
                    vr.failure_reason or "",
                    vr.detail,
                )
        broken = []
        if pol.verify_pkix and not pkix.ok:
            broken.append(f"PKIX: {pkix.result_type}: {pkix.detail}")
        if pol.verify_dane and usable and not dane_ok:
            broken.append(
                f"DANE: {self.r.dane_failure and self.r.dane_failure.additional_information}"
            )
        self.log.debug(
            "tls verification",
            extra={"pkix": pkix.ok, "pkixerr": pkix.detail, "dane": dane_ok if usable else None},
        )
        if not broken:
            return
        if pol.ignore_verification_errors:
            self.log.info(
                "ignoring tls verification failure (TLS-Required: No)",
                extra={"err": "; ".join(broken), "ip": self.ip},
            )
            return
        self.r.verification_failed = True
        raise self.fail(
            code=0,
            enhanced="4.7.5",
            message=f"TLS verification of {self.host} ({self.ip}) failed: " + "; ".join(broken),
        )

    async def transaction(self) -> None:
        exts = self.r.extensions
        size = self.message.stat().st_size
        # RFC 8689 §4.2.1: REQUIRETLS only over TLS to a server announcing it.
        if self.requiretls and not (self.r.tls and self.r.requiretls_offered):
            why = "no TLS" if not self.r.tls else "REQUIRETLS not announced"
            await self.reject_all(550, "5.7.30", f"REQUIRETLS needed but {why} at {self.host}")
        if self.smtputf8 and "SMTPUTF8" not in exts:
            await self.reject_all(553, "5.6.7", f"SMTPUTF8 needed but not supported by {self.host}")
        if self.eightbit and "8BITMIME" not in exts:
            await self.reject_all(
                554, "5.6.3", f"8-bit message but 8BITMIME not supported by {self.host}"
            )
        limit = exts.get("SIZE", "")
        if limit.isdigit() and int(limit) > 0 and size > int(limit):
            await self.reject_all(
                552, "5.3.4", f"message of {size} bytes over the size limit {limit} of {self.host}"
            )

        params = []
        if "SIZE" in exts:
            params.append(f"SIZE={size}")
        if self.eightbit:
            params.append("BODY=8BITMIME")
        if self.smtputf8:
            params.append("SMTPUTF8")
        if self.requiretls:
            params.append("REQUIRETLS")
        mail = " ".join([f"MAIL FROM:{_path(self.mail_from)}", *params])
        if "PIPELINING" in exts:
            await self.pipelined(mail)
        else:
            await self.lockstep(mail)
        await self.send_data()
        self.step = "end of data"
        reply = await self.read(self.data_end_timeout)
        self.r.data_reply = DataReply(
            reply.code, reply.enhanced or "", reply.text.replace("\n", " ")
        )
        self.log.info(
            "delivery attempt done",
            extra={"code": reply.code, "host": self.host, "ip": self.ip, "tls": self.r.tls},
        )
        if self.cache is not None and reply.code // 100 == 2:
            self.keep = True  # the next message to this host continues with RSET
            return
        await self.quit()

    def rcpt_result(self, rcpt: str, reply: Reply) -> None:
        self.r.rcpts.append(
            RcptResult(
                rcpt=rcpt,
                code=reply.code,
                enhanced=reply.enhanced or "",
                text=reply.text.replace("\n", " "),
                accepted=reply.code // 100 == 2,
            )
        )

    async def lockstep(self, mail: str) -> None:
        """MAIL, each RCPT and DATA, each waiting for its reply; returns after 354."""
        self.step = "MAIL FROM"
        reply = await self.command(mail)
        if reply.code // 100 != 2:
            raise self.reply_error(reply, "MAIL FROM")
        self.step = "RCPT TO"
        for rcpt in self.rcpts:
            self.rcpt_result(rcpt, await self.command(f"RCPT TO:{_path(rcpt)}"))
        if not any(r.accepted for r in self.r.rcpts):
            await self.quit()
            raise _Done()
        self.step = "DATA"
        reply = await self.command("DATA")
        if reply.code != 354:
            raise self.reply_error(reply, "DATA")

    async def pipelined(self, mail: str) -> None:
        """MAIL, the RCPTs and DATA as one group, then their replies in order
        (RFC 2920 §3.1: DATA last in the group); returns after 354."""
        self.step = "MAIL FROM"
        await self.send_group([mail, *(f"RCPT TO:{_path(r)}" for r in self.rcpts), "DATA"])
        mail_reply = await self.read()
        self.step = "RCPT TO"
        rcpt_replies = [await self.read() for _ in self.rcpts]
        self.step = "DATA"
        data_reply = await self.read()
        if mail_reply.code // 100 == 2:
            for rcpt, reply in zip(self.rcpts, rcpt_replies, strict=True):
                self.rcpt_result(rcpt, reply)
        accepted = any(r.accepted for r in self.r.rcpts)
        if data_reply.code == 354 and not accepted:
            # RFC 2920 §3.1: DATA was accepted without a recipient: end it empty.
            self.step = "end of data"
            assert self.writer is not None
            self.writer.write(b".\r\n")
            await self.read(self.data_end_timeout)
        if mail_reply.code // 100 != 2:
            raise self.reply_error(mail_reply, "MAIL FROM")
        if not accepted:
            await self.quit()
            raise _Done()
        if data_reply.code != 354:
            raise self.reply_error(data_reply, "DATA")

    async def reject_all(self, code: int, enhanced: str, message: str) -> None:
        """A local decision that no recipient can be delivered in this session."""
        self.r.rcpts = [RcptResult(r, code, enhanced, message, False) for r in self.rcpts]
        self.log.info("not sending", extra={"err": message, "ip": self.ip})
        await self.quit()
        raise self.fail(code=code, enhanced=enhanced, message=message)

    async def send_data(self) -> None:
        assert self.writer is not None
        stuffer = DotStuffer()
        total = 0
        with self.message.open("rb") as fp:
            while True:
                chunk = await asyncio.to_thread(fp.read, CHUNK)
                out = stuffer.feed(chunk) if chunk else stuffer.finish()
                if out:
                    self.writer.write(out)
                    total += len(out)
                    async with asyncio.timeout(self.command_timeout):
                        await self.writer.drain()
                if not chunk:
                    break
        trace_line(self.log, "C:", f"<{total} bytes of data>", data=True)

    async def quit(self) -> None:
        """Best effort QUIT (RFC 5321 §4.1.1.10); errors are irrelevant now."""
        self.step = "QUIT"
        try:
            async with asyncio.timeout(min(self.command_timeout, QUIT_TIMEOUT)):
                await self.command("QUIT")
        except (_Done, ProtocolError, PeerClosed, OSError, TimeoutError, ssl.SSLError):
            pass

    async def close(self) -> None:
        if self.writer is None:
            return
        try:
            self.writer.close()
            async with asyncio.timeout(min(self.command_timeout, QUIT_TIMEOUT)):
                await self.writer.wait_closed()
        except (OSError, TimeoutError, ssl.SSLError):
            pass

    def remote_failure(self, exc: BaseException) -> None:
        """Turn a connection-level exception into the session's (temporary) error."""
        if isinstance(exc, ProtocolError):
            self.r.error = SMTPReplyError(0, exc.enhanced, f"{self.step}: {exc.text} ({self.ip})")
            return
        if is_timeout(exc):
            what = "timeout waiting for the remote"
        elif isinstance(exc, PeerClosed | asyncio.IncompleteReadError | ConnectionError):
            what = f"connection closed ({exc})"
        else:
            what = f"{type(exc).__name__}: {exc}"
        self.r.error = SMTPReplyError(0, "4.4.2", f"{self.step}: {what} ({self.ip})")


async def deliver_session(
    *,
    host: str,
    ip: str,
    port: int,
    tls: TLSPolicy,
    ehlo_name: str,
    mail_from: str,
    rcpts: list[str],
    message: Path,
    requiretls: bool,
    smtputf8: bool,
    eightbit: bool,
    connect_timeout: float,
    command_timeout: float,
    logger: logging.Logger | None = None,
    data_end_timeout: float | None = None,
    cache: SessionCache | None = None,
) -> SessionResult:
    """Try to deliver ``message`` to ``rcpts`` over one SMTP session with ``ip``.

    Remote problems never raise: they are in the result (see SessionResult).
    After a TLS failure the connection is gone; falling back to plaintext is
    the caller's decision (a new session with TLSMode.SKIP).

    With a *cache*, an idle connection of the same host, address, port and TLS
    policy is continued with RSET instead of connecting, and after a 2xx at the
    end of DATA the connection is put back instead of ending it with QUIT
    (SessionResult.reused tells which sessions were continued).
    """
    message.stat()  # a missing message file is a local error: raise before connecting
    s = _Session(
        host=host,
        ip=ip,
        port=port,
        tls=tls,
        ehlo_name=ehlo_name,
        mail_from=mail_from,
        rcpts=rcpts,
        message=message,
        requiretls=requiretls,
        smtputf8=smtputf8,
        eightbit=eightbit,
        connect_timeout=connect_timeout,
        command_timeout=command_timeout,
        data_end_timeout=data_end_timeout if data_end_timeout is not None else DATA_END_TIMEOUT,
        log=logger or _log,
        cache=cache,
    )
    try:
        await s.run()
    except _Done:
        pass
    except ProtocolError as exc:
        s.remote_failure(exc)
    except (OSError, TimeoutError, PeerClosed, EOFError, ssl.SSLError) as exc:
        s.remote_failure(exc)
    finally:
        if s.keep and s.cache is not None and s.r.error is None:
            s.cache.put(s.detach())
        else:
            await s.close()
    if s.r.error is not None:
        s.log.info(
            "delivery attempt failed",
            extra={"err": str(s.r.error), "host": s.host, "ip": ip, "step": s.step},
        )
    return s.r
