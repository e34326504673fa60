"""Running the web listeners with uvicorn inside postel's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Callable, Iterator, Mapping
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

import uvicorn

from postel.config import Config, Listener
from postel.dns import Resolver
from postel.loginlimit import LoginLimiter
from postel.smtpserver.errors import ListenerConfigError
from postel.smtpserver.tls import server_context_pairs
from postel.tcpsocket import listening_socket
from postel.tlsreload import ChallengeSource, ReloadingContext
from postel.tlsrptresultdb.api import TLSResults
from postel.web.app import build_app
from postel.web.errors import ListenError
from postel.web.requestdeadline import Deadlines
from postel.web.requestlimits import MAX_HEAD
from postel.web.sessions import SessionStore
from postel.web.webprotocol import protocol_class

if TYPE_CHECKING:
    from postel.junk.store import JunkData
    from postel.mtastsdb import MTASTSCache
    from postel.queue import QueueRunner
    from postel.receivedreports import ReceivedReports
    from postel.smtpserver.submit import Submitter
    from postel.store.api import Accounts
    from postel.store.credentials import PasswordStore
    from postel.store.notify import LiveFeed

log = logging.getLogger("postel.web")

SHUTDOWN_GRACE = 5.0
MAX_CONNECTIONS = 1000  # per listener; more get 503 (and per client: WebService)


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to postel."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _bind(ip: str, port: int) -> socket.socket:
    try:
        return listening_socket(ip, port, 128)
    except OSError as exc:
        raise ListenError(f"web listener {ip} port {port}: {exc.strerror or exc}") from exc


def load_config(config: uvicorn.Config) -> uvicorn.Config:
    """Load *config* (uvicorn would on start) and hold its TLS context to TLS 1.2 or
    newer without compression, whatever uvicorn's or OpenSSL's defaults are."""
    config.load()
    if config.ssl is not None:
        config.ssl.minimum_version = max(config.ssl.minimum_version, ssl.TLSVersion.TLSv1_2)
        config.ssl.options |= ssl.OP_NO_COMPRESSION
    return config


def kinds(lst: Listener) -> list[str]:
    """What a listener serves, as reported by start_web."""
    out = [k for k in ("admin", "webmail") if getattr(lst.web, k)]
    if lst.web.mtasts:
        out.append("mtasts")
    return out or ["web"]


async def start_web(
    cfg: Config,
    store: Accounts,
    resolver: Resolver,
    stack: AsyncExitStack,
    *,
    queue: QueueRunner | None = None,
    submitter: Submitter | None = None,
    sockets: Mapping[tuple[str, str, str], socket.socket] | None = None,
    challenges: ChallengeSource | None = None,
    reloaders: dict[str, ReloadingContext] | None = None,
    feed: LiveFeed | None = None,
    resultdb: TLSResults | None = None,
    limiter: LoginLimiter | None = None,
    mtastsdb: MTASTSCache | None = None,
    session_stores: Callable[[str], SessionStore] | None = None,
    passwords: PasswordStore | None = None,
    junk_data: JunkData | None = None,
    received: ReceivedReports | None = None,
) -> list[tuple[str, int, str]]:
    """Start one HTTP(S) server per listener with web enabled; stopped by *stack*.
    Returns (ip, port, kind) for each address and each kind it serves. *sockets*:
    listening sockets bound already, keyed (listener, "web", ip) (postel.privdrop).

    HTTPS listeners follow their certificate files (postel.tlsreload) and answer
    TLS-ALPN-01 challenges of *challenges*; their contexts go in *reloaders*.
    *limiter* and *mtastsdb*: the process's own (postel.wiring); else opened here.
    *session_stores*: the session store of a scope ("admin", "webmail"), when
    not in this process's memory (on PostgreSQL: shared by the nodes).
    *passwords*: the accounts' passwords, when not the data directory's auth.db.
    *junk_data*: the junk filter's data, when not the accounts' junk.db files."""
    sessions = session_stores("admin") if session_stores is not None else SessionStore()
    if limiter is None:
        limiter = LoginLimiter(cfg.datadir.auth_db, cfg.static.login_limit.settings())
        stack.callback(limiter.close)
    if mtastsdb is None and any(
        lst.web.enabled and lst.web.webmail for lst in cfg.static.listeners.values()
    ):
        from postel.web.webmail.app import open_mtastsdb

        # One cache for the webmail of every listener.
        mtastsdb = open_mtastsdb(cfg)
        if mtastsdb is not None:
            stack.callback(mtastsdb.close)
    bound: list[tuple[str, int, str]] = []
    for name, lst in cfg.static.listeners.items():
        if not lst.web.enabled:
            continue
        app = build_app(
            cfg,
            store,
            resolver,
            admin=lst.web.admin,
            webmail=lst.web.webmail,
            mtasts=lst.web.mtasts,
            autoconfig=lst.web.autoconfig,
            internal=lst.internal,
            sessions=sessions,
            limiter=limiter,
            queue=queue,
            submitter=submitter,
            resultdb=resultdb,
            challenges=challenges,
            feed=feed,
            mtastsdb=mtastsdb,
            webmail_sessions=session_stores("webmail") if session_stores is not None else None,
            passwords=passwords,
            junk_data=junk_data,
            received=received,
        )
        tls: dict[str, Any] = {}
        reloading: ReloadingContext | None = None
        pairs = cfg.tls_pairs(lst)
        if lst.web.tls:
            if not pairs:
                raise ListenError(f"web listener {name}: TLS needs tls_cert_file and tls_key_file")
            try:
                reloading = ReloadingContext(
                    pairs, server_context_pairs, challenges=challenges, where=f"web listener {name}"
                )
            except ListenerConfigError as err:
                raise ListenError(f"web listener {name}: {err}") from err
            tls = {"ssl_certfile": str(pairs[0][0]), "ssl_keyfile": str(pairs[0][1])}
        config = uvicorn.Config(
            app,
            log_config=None,
            lifespan="off",
            access_log=False,
            proxy_headers=False,
            server_header=False,
            timeout_graceful_shutdown=int(SHUTDOWN_GRACE),
            # h11 on purpose: it bounds a request head per read (httptools, picked
            # by "auto" when installed, is not configured here); requestlimits.py
            # bounds the complete head, webprotocol.py the time a request may take
            # and the connections per client.
            http=protocol_class(
                Deadlines(
                    head=lst.web.head_timeout,
                    body=lst.web.body_timeout,
                    min_body_rate=lst.web.min_body_rate,
                    request=lst.web.request_timeout,
                ),
                lst.web.max_connections_per_ip,
                lst.web.connection_limit_exempt,
            ),
            h11_max_incomplete_event_size=MAX_HEAD,
            limit_concurrency=MAX_CONNECTIONS,
            **tls,
        )
        try:
            load_config(config)
        except (OSError, ssl.SSLError) as err:
            raise ListenError(f"web listener {name}: cannot load TLS certificate: {err}") from err
        if reloading is not None:
            # New handshakes go through the reloading context's SNI callback.
            config.ssl = reloading.front
            watcher = asyncio.create_task(reloading.watch(), name=f"web-tls-{name}")
            stack.callback(watcher.cancel)
            if reloaders is not None:
                reloaders[name] = reloading
        socks: list[socket.socket] = []
        try:
            for ip in lst.ips:
                given = sockets.get((name, "web", ip)) if sockets is not None else None
                socks.append(given if given is not None else _bind(ip, lst.web.port))
        except ListenError:
            for s in socks:
                s.close()
            raise
        server = _Server(config)
        task = asyncio.create_task(server.serve(sockets=socks), name=f"web-{name}")

        async def stop(server: _Server = server, task: asyncio.Task[None] = task) -> None:
            server.should_exit = True
            try:
                await asyncio.wait_for(task, SHUTDOWN_GRACE + 2)
            except (TimeoutError, asyncio.CancelledError):
                task.cancel()

        stack.push_async_callback(stop)
        # Wait until it accepts connections (or failed).
        while not server.started and not task.done():
            await asyncio.sleep(0.01)
        if task.done():
            exc = task.exception()
            raise ListenError(f"web listener {name}: did not start: {exc}")
        for sock in socks:
            ip, port = sock.getsockname()[:2]
            for kind in kinds(lst):
                bound.append((ip, port, kind))
        log.info("web listener started", extra={"listener": name, "tls": lst.web.tls})
    return bound
