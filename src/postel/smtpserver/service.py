"""SMTPService: the SMTP listeners of every configured listener, started and stopped together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from postel.config import Config
from postel.dns.cache import DEFAULT_MAX_AGE, CachingResolver
from postel.log import cid_context
from postel.metrics import record as metrics
from postel.smtp.reply import Reply
from postel.smtpserver.clientlimit import client_key
from postel.smtpserver.conn import Conn
from postel.smtpserver.context import Kind, ServerContext
from postel.smtpserver.errors import BindError, ListenerConfigError
from postel.smtpserver.session import Session
from postel.smtpserver.tls import server_context_pairs
from postel.tlsreload import ReloadingContext

if TYPE_CHECKING:
    from postel.dmarcevaldb.api import EvalWriter
    from postel.dns import Resolver
    from postel.junk.store import JunkData
    from postel.loginlimit import LoginLimiter
    from postel.smtpserver.submit import Submitter
    from postel.store.api import Accounts
    from postel.store.credentials import Passwords

log = logging.getLogger("postel.smtpserver")

KINDS: tuple[Kind, ...] = ("smtp", "submission", "submissions")
STOP_GRACE = 5.0  # seconds for busy sessions to finish at stop()
TLS_HANDSHAKE_TIMEOUT = 30.0


def listen_plan(cfg: Config) -> list[tuple[str, Kind, str, int]]:
    """Every SMTP socket of *cfg* as (listener, kind, ip, configured port).

    Raises ListenerConfigError for a TLS port of a listener without certificate.
    """
    plan: list[tuple[str, Kind, str, int]] = []
    for name, lst in cfg.static.listeners.items():
        has_tls = bool(cfg.tls_pairs(lst))
        for kind in KINDS:
            port = getattr(lst, kind)
            if not port.enabled:
                continue
            if not has_tls and kind != "smtp":
                raise ListenerConfigError(
                    f"listener {name!r}: {kind} needs tls_cert_file and tls_key_file "
                    "(or [acme] enabled)"
                )
            plan.extend((name, kind, ip, int(port.port)) for ip in lst.ips)
    return plan


class SMTPService:
    """Incoming SMTP (25), submission (587, STARTTLS) and submissions (465, TLS).

    A configured port of 0 means "any free port" (used by tests); the ports
    actually bound are in :attr:`bound` as (ip, port, kind). Lookups of the
    sessions go through a cache of *dns_cache_seconds* (0: none).
    """

    def __init__(
        self,
        cfg: Config,
        store: Accounts,
        resolver: Resolver,
        submitter: Submitter,
        *,
        dns_cache_seconds: float = DEFAULT_MAX_AGE,
        ports: Mapping[tuple[str, str, str], int] | None = None,
        reuse_port: bool = False,
        sockets: Mapping[tuple[str, str, str], socket.socket] | None = None,
        credentials: Passwords | None = None,
        limiter: LoginLimiter | None = None,
        evaluations: EvalWriter | None = None,
        junk_data: JunkData | None = None,
    ) -> None:
        """*credentials* and *limiter*: auth.db as the process's wiring root
        (postel.wiring) opened it, left open at :meth:`stop`; else opened at
        :meth:`start` and closed at :meth:`stop`. *evaluations*: where DMARC
        evaluations go when not dmarceval.db (shared in PostgreSQL). *junk_data*:
        where the junk filter keeps the accounts' data (default: their junk.db
        files)."""
        self.cfg = cfg
        self._shared_evaluations = evaluations
        self._junk_data = junk_data
        self._given_credentials = credentials
        self._given_limiter = limiter
        # Listening sockets bound before the switch to an unprivileged user
        # (postel.privdrop), keyed (listener, kind, ip): used instead of binding.
        self._sockets = dict(sockets) if sockets is not None else None
        # SMTP worker processes (postel.smtpworkers): every worker listens on the
        # ports the main process reserved, keyed (listener, kind, ip), with
        # SO_REUSEPORT so the kernel spreads connections over them.
        self._ports = dict(ports) if ports is not None else None
        self._reuse_port = reuse_port
        # Verification asks the same names for every message of a sender.
        cached = CachingResolver(resolver, max_age=dns_cache_seconds) if dns_cache_seconds else None
        self.ctx = ServerContext(cfg, store, cached or resolver, submitter, credentials=None)
        self.bound: list[tuple[str, int, str]] = []
        self._servers: list[asyncio.Server] = []
        self._sessions: dict[Session, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()  # every connection's task
        # One per listener with TLS: new handshakes follow the certificate files.
        self.tls_contexts: dict[str, ReloadingContext] = {}
        self._watchers: list[asyncio.Task[None]] = []

    def health(self) -> str | None:
        """None when every listening socket accepts connections (for /healthz)."""
        if self._servers and all(s.is_serving() for s in self._servers):
            return None
        return "the SMTP listeners do not accept connections"

    async def start(self) -> None:
        from postel.loginlimit import LoginLimiter
        from postel.store.credentials import Credentials

        cfg = self.cfg
        cfg.datadir.tmp.mkdir(parents=True, exist_ok=True)
        self.ctx.credentials = self._given_credentials or Credentials(cfg.datadir.auth_db)
        self.ctx.limiter = self._given_limiter or LoginLimiter(
            cfg.datadir.auth_db, cfg.static.login_limit.settings()
        )
        if self.ctx.junk is None:
            from postel.junk.filter import junk_filter

            self.ctx.junk = junk_filter(cfg, self.ctx.resolver, self._junk_data)
        if not cfg.static.reports.no_outgoing_dmarc_reports and self.ctx.evaluations is None:
            from postel.dmarcevaldb import EvalRecorder

            # DMARC evaluations for outgoing aggregate reports (RFC 7489 §7.2).
            self.ctx.evaluations = EvalRecorder(
                cfg.datadir.dmarceval_db, shared=self._shared_evaluations
            )
        limit = cfg.static.limits.max_line_length + 2
        contexts: dict[str, ssl.SSLContext | None] = {}
        try:
            for name, kind, ip, port in listen_plan(cfg):
                if name not in contexts:
                    pairs = cfg.tls_pairs(cfg.static.listeners[name])
                    contexts[name] = None
                    if pairs:
                        reloading = ReloadingContext(
                            pairs, server_context_pairs, where=f"smtp listener {name}"
                        )
                        self.tls_contexts[name] = reloading
                        contexts[name] = reloading.front
                        self._watchers.append(asyncio.create_task(reloading.watch()))
                if self._ports is not None:
                    port = self._ports[(name, kind, ip)]
                sock = self._sockets.get((name, kind, ip)) if self._sockets is not None else None
                await self._listen(name, kind, ip, port, contexts[name], limit, sock)
        except BaseException:
            await self.stop()
            raise

    async def _listen(
        self,
        name: str,
        kind: Kind,
        ip: str,
        port: int,
        tls_ctx: ssl.SSLContext | None,
        limit: int,
        sock: socket.socket | None = None,
    ) -> None:
        loop = asyncio.get_running_loop()
        tmpdir = self.cfg.datadir.tmp

        def connected(conn: Conn) -> None:
            # A task per connection: the session (Conn is the protocol, no streams).
            task = loop.create_task(self._connection(kind, tls_ctx, conn, tmpdir))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        implicit = kind == "submissions"
        try:
            if sock is not None:
                server = await loop.create_server(
                    lambda: Conn(limit, connected),
                    sock=sock,
                    ssl=tls_ctx if implicit else None,
                    ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT if implicit else None,
                )
            else:
                server = await loop.create_server(
                    lambda: Conn(limit, connected),
                    host=ip,
                    port=port,
                    ssl=tls_ctx if implicit else None,
                    ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT if implicit else None,
                    reuse_address=True,
                    reuse_port=self._reuse_port or None,
                )
        except OSError as exc:
            raise BindError(
                f"listener {name!r}: cannot listen for {kind} on {ip} port {port}: {exc}"
            ) from exc
        self._servers.append(server)
        for sock in server.sockets:
            self.bound.append((ip, int(sock.getsockname()[1]), kind))

    async def _connection(
        self,
        kind: Kind,
        tls_ctx: ssl.SSLContext | None,
        conn: Conn,
        tmpdir: Path,
    ) -> None:
        with cid_context():
            limits = self.cfg.static.limits
            metrics.connection(kind)
            if self.ctx.connections >= limits.max_connections:
                log.info("too many connections", extra={"max": limits.max_connections})
                metrics.connection_refused(kind, "total")
                await _refuse(conn, "too many connections, try later")
                return
            peer = conn.get_extra_info("peername")
            ip = str(peer[0]) if peer else ""
            key = client_key(ip, limits.connection_limit_exempt)  # None: not counted
            if key is not None and self.ctx.clients.count(key) >= limits.max_connections_per_ip:
                log.info(
                    "too many connections from client",
                    extra={"ip": ip, "client": key, "max": limits.max_connections_per_ip},
                )
                metrics.connection_refused(kind, "client")
                await _refuse(conn, "too many connections from your address, try later")
                return
            task = asyncio.current_task()
            assert task is not None
            session = Session(self.ctx, kind, tls_ctx, conn, tmpdir)
            self.ctx.connections += 1
            if key is not None:
                self.ctx.clients.add(key)
            self._sessions[session] = task
            metrics.connection_opened(kind)
            try:
                await session.run()
            except asyncio.CancelledError:
                pass
            except Exception:
                log.exception("session failed")
            finally:
                metrics.connection_closed(kind)
                self.ctx.connections -= 1
                if key is not None:
                    self.ctx.clients.remove(key)
                self._sessions.pop(session, None)

    async def stop(self) -> None:
        """Stop accepting; end idle sessions now, busy ones within a few seconds."""
        for watcher in self._watchers:
            watcher.cancel()
        self._watchers.clear()
        for server in self._servers:
            server.close()
        for session, task in list(self._sessions.items()):
            if not session.busy:
                await session.shutdown()
                task.cancel()
        tasks = list(self._sessions.values())
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=STOP_GRACE)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1)
        if self.ctx.background:
            _, pending_bg = await asyncio.wait(list(self.ctx.background), timeout=STOP_GRACE)
            for task in pending_bg:
                task.cancel()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1)
        self._servers.clear()
        # Deliveries still queued are done before the store is closed.

        await asyncio.to_thread(self.ctx.store.finish_deliveries)
        if self.ctx.evaluations is not None:
            await asyncio.to_thread(self.ctx.evaluations.close)
            self.ctx.evaluations = None
        if self.ctx.junk is not None:
            await asyncio.to_thread(self.ctx.junk.close)
        if self.ctx.credentials is not None:
            if self.ctx.credentials is not self._given_credentials:
                self.ctx.credentials.close()
            self.ctx.credentials = None
        if self.ctx.limiter is not None:
            if self.ctx.limiter is not self._given_limiter:
                self.ctx.limiter.close()
            self.ctx.limiter = None


async def _refuse(conn: Conn, text: str) -> None:
    """Say 421 and close (RFC 5321 §3.1: a server may refuse with 421 at greeting)."""
    try:
        with contextlib.suppress(Exception):
            conn.write(Reply(421, "4.7.0", text).encode())
            await asyncio.wait_for(conn.drain(), 2)
    finally:
        conn.close()  # also when the client does not read the reply
