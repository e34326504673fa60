"""A small scripted SMTP server for smtpclient tests (threads, blocking sockets,
127.0.0.1, ephemeral port) and trustme certificates.

The server is deliberately not asyncio: it runs beside the client's event loop
and can misbehave on purpose (refuse STARTTLS, hang, send oversized lines,
require client certificates to provoke TLS alerts).
"""

from __future__ import annotations

import datetime as dt
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import trustme

from postel.smtpclient import TLSMode, TLSPolicy

MX = "mx.example.org"


@dataclass
class Script:
    """What the server does; defaults make a well-behaved ESMTP server with STARTTLS."""

    banner: list[str] = field(default_factory=lambda: [f"220 {MX} ESMTP test"])
    ehlo_name: str = MX
    extensions: list[str] = field(
        default_factory=lambda: ["PIPELINING", "SIZE 100000", "8BITMIME", "SMTPUTF8", "STARTTLS"]
    )
    # Extensions after TLS (None: same as before, without STARTTLS).
    tls_extensions: list[str] | None = None
    ehlo_reply: list[str] | None = None  # e.g. ["502 5.5.1 no EHLO"]
    accept_starttls: bool = True  # also when not announced
    starttls_reply: list[str] = field(default_factory=lambda: ["220 2.0.0 go ahead"])
    tls_context: ssl.SSLContext | None = None
    implicit_tls: bool = False
    garbage_after_starttls: bool = False  # send plaintext instead of a TLS handshake
    close_after_starttls: bool = False
    hang_after_starttls: bool = False  # reply 220, then never start the handshake
    mail_reply: list[str] = field(default_factory=lambda: ["250 2.1.0 ok"])
    rcpt_replies: dict[str, list[str]] = field(default_factory=dict)
    data_reply: list[str] = field(default_factory=lambda: ["250 2.0.0 queued as 1"])
    hang_on: str | None = None  # command verb after which the server stays silent
    raw_reply: dict[str, bytes] = field(default_factory=dict)  # verb -> raw bytes
    # Read DATA as a lenient (vulnerable) receiver would: a "." line ends it
    # whatever the line ends around it (CR, LF or CRLF, a NUL beside the dot);
    # what follows is read as commands (SMTP smuggling, CVE-2023-51764 class).
    lenient_data_end: bool = False
    rset_reply: list[str] = field(default_factory=lambda: ["250 2.0.0 ok"])
    close_after_data: bool = False  # end the connection after the reply to DATA's end


LENIENT_END = re.compile(rb"(?:\A|\r\n|\r|\n)\x00?\.\x00?(?:\r\n|\r|\n)")


@dataclass
class Seen:
    commands: list[str] = field(default_factory=list)
    data: list[bytes] = field(default_factory=list)
    sni: list[str | None] = field(default_factory=list)
    tls: list[bool] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    connections: int = 0  # connections accepted
    pipelined: list[str] = field(default_factory=list)  # verbs read with more input buffered


class _Conn:
    def __init__(self, sock: socket.socket) -> None:
        self.sock: socket.socket | ssl.SSLSocket = sock
        self.buf = b""

    def line(self) -> bytes | None:
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line + b"\n"

    def until(self, pattern: re.Pattern[bytes]) -> bytes | None:
        """Everything up to the end of the first match of *pattern* (None at EOF)."""
        while (m := pattern.search(self.buf)) is None:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        data, self.buf = self.buf[: m.end()], self.buf[m.end() :]
        return data

    def send(self, lines: list[str]) -> None:
        self.sock.sendall("".join(line + "\r\n" for line in lines).encode())


class FakeSMTP:
    def __init__(self, script: Script) -> None:
        self.script = script
        self.seen = Seen()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self._threads.append(t)
        if script.tls_context is not None:
            script.tls_context.sni_callback = self._sni

    def _sni(self, _sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        self.seen.sni.append(name)

    def stop(self) -> None:
        self._stop.set()
        self.listener.close()
        for t in self._threads:
            t.join(timeout=5)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self.listener.accept()
            except (TimeoutError, OSError):
                continue
            sock.settimeout(10)
            self.seen.connections += 1
            t = threading.Thread(target=self._serve, args=(sock,), daemon=True)
            t.start()
            self._threads.append(t)

    def _serve(self, sock: socket.socket) -> None:
        conn = _Conn(sock)
        try:
            self._session(conn)
        except (OSError, ssl.SSLError) as exc:
            self.seen.errors.append(repr(exc))
        finally:
            try:
                conn.sock.close()
            except OSError:
                pass

    def _wrap(self, conn: _Conn) -> None:
        assert self.script.tls_context is not None
        assert isinstance(conn.sock, socket.socket)
        tsock = self.script.tls_context.wrap_socket(
            conn.sock, server_side=True, do_handshake_on_connect=False
        )
        try:
            tsock.do_handshake()
        except (OSError, ssl.SSLError):
            # Read what the client sent before closing, so the close does not
            # turn into a TCP reset that could overtake our alert.
            tsock.settimeout(0.5)
            try:
                socket.socket.recv(tsock, 65536)
            except OSError:
                pass
            raise
        conn.sock = tsock
        self.seen.tls.append(True)

    def _hang(self) -> None:
        self._stop.wait(30)

    def _session(self, conn: _Conn) -> None:
        s = self.script
        if s.implicit_tls:
            self._wrap(conn)
        conn.send(s.banner)
        tls = s.implicit_tls
        while True:
            raw = conn.line()
            if raw is None:
                return
            line = raw.rstrip(b"\r\n").decode("utf-8", "replace")
            self.seen.commands.append(line)
            verb = line.split(" ", 1)[0].split(":", 1)[0].upper()
            if conn.buf:
                self.seen.pipelined.append(verb)
            if s.hang_on == verb:
                self._hang()
                return
            if verb in s.raw_reply:
                conn.sock.sendall(s.raw_reply[verb])
                continue
            if verb == "EHLO":
                if s.ehlo_reply is not None:
                    conn.send(s.ehlo_reply)
                    continue
                exts = s.extensions
                if tls:
                    exts = (
                        s.tls_extensions
                        if s.tls_extensions is not None
                        else [e for e in s.extensions if e != "STARTTLS"]
                    )
                names = [s.ehlo_name, *exts]
                conn.send([f"250-{n}" for n in names[:-1]] + [f"250 {names[-1]}"])
            elif verb == "HELO":
                conn.send([f"250 {s.ehlo_name}"])
            elif verb == "STARTTLS":
                if not s.accept_starttls or tls:
                    conn.send(["502 5.5.1 not here"])
                    continue
                conn.send(s.starttls_reply)
                if not s.starttls_reply[-1].startswith("220"):
                    continue
                if s.garbage_after_starttls:
                    conn.send(["this is not TLS at all"])
                    time.sleep(0.5)
                    return
                if s.close_after_starttls:
                    return
                if s.hang_after_starttls:
                    self._hang()
                    return
                self._wrap(conn)
                tls = True
            elif verb == "MAIL":
                conn.send(s.mail_reply)
            elif verb == "RCPT":
                addr = line.split(":", 1)[1].strip().split(" ")[0].strip("<>")
                conn.send(s.rcpt_replies.get(addr, ["250 2.1.5 ok"]))
            elif verb == "DATA":
                conn.send(["354 go ahead"])
                if s.lenient_data_end:
                    lenient = conn.until(LENIENT_END)
                    if lenient is None:
                        return
                    self.seen.data.append(lenient)
                    conn.send(s.data_reply)
                    continue
                data = b""
                while True:
                    raw = conn.line()
                    if raw is None:
                        return
                    data += raw
                    if raw == b".\r\n" and (len(data) == 3 or data.endswith(b"\r\n.\r\n")):
                        break
                self.seen.data.append(data)
                conn.send(s.data_reply)
                if s.close_after_data:
                    return
            elif verb == "QUIT":
                conn.send(["221 2.0.0 bye"])
                return
            elif verb == "RSET":
                conn.send(s.rset_reply)
            else:
                conn.send(["500 5.5.2 what?"])


@dataclass
class PKI:
    ca: trustme.CA
    ca_file: Path
    tmp: Path

    def server_context(
        self,
        *names: str,
        ca: trustme.CA | None = None,
        not_after: dt.datetime | None = None,
        not_before: dt.datetime | None = None,
        max_version: ssl.TLSVersion | None = None,
        require_client_cert: bool = False,
    ) -> tuple[ssl.SSLContext, trustme.LeafCert]:
        issuer = ca or self.ca
        leaf = issuer.issue_cert(*(names or (MX,)), not_after=not_after, not_before=not_before)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        leaf.configure_cert(ctx)
        if max_version is not None:
            ctx.maximum_version = max_version
        if require_client_cert:
            ctx.verify_mode = ssl.CERT_REQUIRED
            self.ca.configure_trust(ctx)
        return ctx, leaf


def policy(pki: PKI, mode: TLSMode = TLSMode.OPPORTUNISTIC, **kw: object) -> TLSPolicy:
    """A TLSPolicy trusting the test CA, PKIX name = MX."""
    args: dict[str, object] = {
        "mode": mode,
        "pkix_name": MX,
        "extra_ca_files": [pki.ca_file],
    }
    args.update(kw)
    return TLSPolicy(**args)  # type: ignore[arg-type]
