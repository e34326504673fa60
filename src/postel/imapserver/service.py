"""IMAPService: the IMAP listeners of every listener (143 STARTTLS, 993 TLS),
started and stopped together, with connection limits per client."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections import Counter
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from postel.config import Config
from postel.imapserver.context import (
    Changes,
    FeedChanges,
    PollChanges,
    SessionContext,
    Settings,
)
from postel.imapserver.session import Session
from postel.imapserver.storeapi import AccountMailStore, MailStore
from postel.junk.training import trainer_for
from postel.log import cid_context
from postel.metrics import record as metrics
from postel.sasl import PasswordCheck
from postel.smtpserver.clientlimit import client_key
from postel.smtpserver.errors import BindError, ListenerConfigError
from postel.tlsreload import ReloadingContext

if TYPE_CHECKING:
    from postel.junk.store import JunkData
    from postel.loginlimit import LoginLimiter
    from postel.store.api import Accounts
    from postel.store.credentials import Passwords
    from postel.store.notify import ChangeFeed

log = logging.getLogger("postel.imapserver")

KINDS = ("imap", "imaps")
TLS_HANDSHAKE_TIMEOUT = 30.0
STOP_GRACE = 2.0


def listen_plan(cfg: Config) -> list[tuple[str, str, str, int]]:
    """Every IMAP socket of *cfg* as (listener, kind, ip, configured port)."""
    plan: list[tuple[str, str, str, int]] = []
    for name, lst in cfg.static.listeners.items():
        for kind in KINDS:
            port = getattr(lst, kind)
            if not port.enabled:
                continue
            if not cfg.tls_pairs(lst):
                raise ListenerConfigError(
                    f"listener {name!r}: {kind} needs tls_cert_file and tls_key_file "
                    "(or [acme] enabled)"
                )
            plan.extend((name, kind, ip, int(port.port)) for ip in lst.ips)
    return plan


def settings(cfg: Config) -> Settings:
    imap = cfg.static.imap
    return Settings(
        max_line=imap.max_line_length,
        max_literal=cfg.static.limits.max_message_size,
        unauthenticated_timeout=imap.unauthenticated_timeout,
        idle_timeout=imap.idle_timeout,
        max_connections_per_account=imap.max_connections_per_account,
        recheck_interval=imap.recheck_interval,
        spill_dir=cfg.datadir.tmp,
        max_total=imap.max_append_total,
    )


class IMAPService:
    """Bound ports are in :attr:`bound` as (ip, port, kind)."""

    def __init__(
        self,
        cfg: Config,
        store: Accounts,
        *,
        sockets: Mapping[tuple[str, str, str], socket.socket] | None = None,
        feed: ChangeFeed | None = None,
        credentials: Passwords | None = None,
        limiter: LoginLimiter | None = None,
        changes: Changes | None = None,
        open_store: Callable[[str], MailStore] | None = None,
        junk_data: JunkData | None = None,
    ) -> None:
        """*feed*: the store's ChangeFeed of the serve process, which wakes IDLE
        at once; without it sessions look every [imap] recheck_interval.
        *changes* and *open_store*: another store's change notifications and
        account stores (the PostgreSQL store's, postel.pg.nodeparts) in place
        of *feed* and *store*'s accounts. *junk_data*: where the junk filter's
        training goes (default: the accounts' junk.db files).
        *credentials* and *limiter*: auth.db as the wiring root (postel.wiring)
        opened it, left open at :meth:`stop`; else opened and closed here."""
        self._given_credentials = credentials
        self._given_limiter = limiter
        self.cfg = cfg
        self.store = store
        self.feed = feed
        self._changes = changes
        self._given_open_store = open_store
        self._junk_data = junk_data
        self._sockets = dict(sockets) if sockets is not None else None
        self.bound: list[tuple[str, int, str]] = []
        self._servers: list[asyncio.Server] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._watchers: list[asyncio.Task[None]] = []
        self.tls_contexts: dict[str, ReloadingContext] = {}
        self._clients: Counter[str] = Counter()
        self._credentials: Passwords | None = None
        self._limiter: LoginLimiter | None = None
        self.ctx: SessionContext | None = None

    def _open_store(self, account: str) -> MailStore:
        if self._given_open_store is not None:
            return self._given_open_store(account)
        return AccountMailStore(self.store.account(account))

    async def start(self) -> None:
        from postel.loginlimit import LoginLimiter
        from postel.smtpserver.tls import server_context_pairs
        from postel.store.credentials import Credentials

        cfg = self.cfg
        plan = listen_plan(cfg)
        if not plan:
            return
        self._credentials = self._given_credentials or Credentials(cfg.datadir.auth_db)
        self._limiter = self._given_limiter or LoginLimiter(
            cfg.datadir.auth_db, cfg.static.login_limit.settings()
        )
        logins = PasswordCheck(lambda: self.cfg.domains, self._credentials, self._limiter)
        opts = settings(cfg)
        changes: Changes = (
            self._changes
            if self._changes is not None
            else FeedChanges(self.feed, opts.recheck_interval)
            if self.feed is not None
            else PollChanges(opts.recheck_interval)
        )
        base = SessionContext(
            opts,
            logins,
            self._open_store,
            changes=changes,
            trainer=trainer_for(cfg, self._junk_data),
            quota=cfg.account_quota,
        )
        self.ctx = base
        contexts: dict[str, ReloadingContext] = {}
        try:
            for name, kind, ip, port in plan:
                if name not in contexts:
                    pairs = cfg.tls_pairs(cfg.static.listeners[name])
                    reloading = ReloadingContext(
                        pairs, server_context_pairs, where=f"imap listener {name}"
                    )
                    contexts[name] = reloading
                    self.tls_contexts[name] = reloading
                    self._watchers.append(asyncio.create_task(reloading.watch()))
                sock = self._sockets.get((name, kind, ip)) if self._sockets is not None else None
                await self._listen(name, kind, ip, port, contexts[name].front, sock)
        except BaseException:
            await self.stop()
            raise

    async def _listen(
        self,
        name: str,
        kind: str,
        ip: str,
        port: int,
        tls_ctx: ssl.SSLContext,
        sock: socket.socket | None,
    ) -> None:
        implicit = kind == "imaps"

        async def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            self._tasks.add(task)
            try:
                await self._connection(reader, writer, tls_ctx, implicit)
            finally:
                self._tasks.discard(task)

        limit = self.cfg.static.imap.max_line_length + 2
        kwargs: dict[str, object] = {
            "ssl": tls_ctx if implicit else None,
            "ssl_handshake_timeout": TLS_HANDSHAKE_TIMEOUT if implicit else None,
            "limit": limit,
        }
        try:
            if sock is not None:
                server = await asyncio.start_server(connected, sock=sock, **kwargs)  # type: ignore[arg-type]
            else:
                server = await asyncio.start_server(
                    connected,
                    host=ip,
                    port=port,
                    reuse_address=True,
                    **kwargs,  # type: ignore[arg-type]
                )
        except OSError as exc:
            raise BindError(
                f"listener {name!r}: cannot listen for {kind} on {ip} port {port}: {exc}"
            ) from exc
        self._servers.append(server)
        for s in server.sockets:
            self.bound.append((ip, int(s.getsockname()[1]), kind))

    async def _connection(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        tls_ctx: ssl.SSLContext,
        implicit: bool,
    ) -> None:
        assert self.ctx is not None
        with cid_context():
            imap = self.cfg.static.imap
            peer = writer.get_extra_info("peername")
            ip = str(peer[0]) if peer else ""
            key = client_key(ip, self.cfg.static.limits.connection_limit_exempt)
            kind = "imaps" if implicit else "imap"
            metrics.connection(kind)
            refuse = ""
            if len(self._tasks) > imap.max_connections:
                refuse = "too many connections, try later"
                metrics.connection_refused(kind, "total")
            elif key is not None and self._clients[key] >= imap.max_connections_per_ip:
                refuse = "too many connections from your address, try later"
                metrics.connection_refused(kind, "client")
            if refuse:
                log.info("imap connection refused", extra={"ip": ip, "reason": refuse})
                with contextlib.suppress(Exception):
                    writer.write(f"* BYE [UNAVAILABLE] {refuse}\r\n".encode())
                    await asyncio.wait_for(writer.drain(), 5)
                writer.close()
                return
            if key is not None:
                self._clients[key] += 1
            ctx = SessionContext(
                self.ctx.settings,
                self.ctx.logins,
                self.ctx.open_store,
                tls=None if implicit else tls_ctx,
                changes=self.ctx.changes,
                per_account=self.ctx.per_account,
                derived=self.ctx.derived,
                trainer=self.ctx.trainer,
                quota=self.ctx.quota,
            )
            session = Session(reader, writer, ctx, tls=implicit, ip=ip)
            metrics.connection_opened(kind)
            try:
                await session.run()
            except asyncio.CancelledError:
                pass
            except Exception:
                log.exception("imap session failed", extra={"ip": ip})
            finally:
                metrics.connection_closed(kind)
                if key is not None:
                    self._clients[key] -= 1
                    if self._clients[key] <= 0:
                        del self._clients[key]
                with contextlib.suppress(Exception):
                    writer.close()

    async def stop(self) -> None:
        for watcher in self._watchers:
            watcher.cancel()
        self._watchers.clear()
        for server in self._servers:
            server.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=STOP_GRACE)
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1)
        self._servers.clear()
        if self._credentials is not None:
            if self._credentials is not self._given_credentials:
                self._credentials.close()
            self._credentials = None
        if self._limiter is not None:
            if self._limiter is not self._given_limiter:
                self._limiter.close()
            self._limiter = None
        if self.ctx is not None and self.ctx.trainer is not None:
            self.ctx.trainer.junk.close()
