"""`postel serve`: run every listener and loop of one instance.

SMTP runs in this process, or in worker processes (postel.smtpworkers) when
*smtp_workers* is 2 or more; queue, web and reports always run here.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from postel.config import Config

if TYPE_CHECKING:
    from postel.acme.manager import ACMEManager
    from postel.deliveryworkers import DeliveryPool
    from postel.queue import QueueRunner
    from postel.smtpworkers import Supervisor
    from postel.store.notify import ChangeFeed

log = logging.getLogger("postel.serve")


@dataclass
class Running:
    """What a started instance listens on, for printing and for tests."""

    bound: list[tuple[str, int, str]] = field(default_factory=list)
    workers: Supervisor | None = None  # when SMTP runs in worker processes
    acme: ACMEManager | None = None  # when [acme] is enabled
    feed: ChangeFeed | None = None  # the account changes of every process
    delivery: DeliveryPool | None = None  # when delivery runs in worker processes
    queue: QueueRunner | None = None  # the outgoing queue's delivery loop


async def check_resolver(nameservers: list[str] | None, port: int) -> None:
    """Warn loudly when the resolver of [dns] (*nameservers*, None: the
    system's, on *port*) does not validate DNSSEC (no DANE then)."""
    from postel.dns.check import check_validating
    from postel.dns.resolver import DNSResolver

    resolver = DNSResolver(nameservers, port=port)
    try:
        ok, detail = await check_validating(resolver)
    except Exception as exc:  # the check must never stop the server
        ok, detail = False, f"check failed: {exc}"
    if not ok:
        log.warning(
            "DNS RESOLVER DOES NOT VALIDATE DNSSEC: DANE is disabled and DNSSEC status is "
            "unknown for every delivery; configure a validating resolver in [dns]",
            extra={"detail": detail},
        )
    else:
        log.info("dns resolver validates dnssec", extra={"detail": detail})


async def run(
    cfg: Config,
    *,
    ready: Callable[[Running], Awaitable[None] | None] | None = None,
    stop: asyncio.Event | None = None,
    check_dns: bool = True,
    smtp_workers: int = 1,
    log_time: bool = True,
    sockets: Mapping[tuple[str, str, str], socket.socket] | None = None,
) -> None:
    """Start every service of *cfg*, run until *stop* is set or SIGINT/SIGTERM.

    *smtp_workers* >= 2: SMTP in that many worker processes (config from
    ``cfg.dir``, logging with timestamps if *log_time*); else in this process.
    *sockets*: listening sockets bound before the switch to an unprivileged
    user, keyed (listener, kind, ip) (postel.privdrop); else each service binds.
    """
    from postel.owner import OwnerLock

    # One owner per data directory: refused before any listener or loop starts.
    cfg.datadir.root.mkdir(parents=True, exist_ok=True, mode=0o700)
    owner = OwnerLock(cfg.datadir.root)
    owner.acquire()
    try:
        await _run(cfg, ready, stop, check_dns, smtp_workers, log_time, sockets)
    finally:
        owner.release()


async def _run(
    cfg: Config,
    ready: Callable[[Running], Awaitable[None] | None] | None,
    stop: asyncio.Event | None,
    check_dns: bool,
    smtp_workers: int,
    log_time: bool,
    sockets: Mapping[tuple[str, str, str], socket.socket] | None,
) -> None:
    from postel.smtpserver import SMTPService
    from postel.wiring import ServeRoot

    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError, ValueError):
            pass
    cfg.datadir.ensure()
    if check_dns:
        await check_resolver(cfg.static.dns.nameservers or None, cfg.static.dns.port)
    running = Running()
    async with AsyncExitStack() as stack:
        from postel.metrics.service import start_recording

        # Before the queue and the SMTP workers start.
        start_recording(cfg.static.metrics.enabled, cfg.datadir.root, stack)
        # Every database of this process, opened once (postel.wiring).
        root = await ServeRoot.open(cfg, stack)
        running.feed = root.feed
        from postel.services import make_submitter, start_extras

        submitter = await make_submitter(root, stack, log_time=log_time, shutdown=stop)
        from postel.deliveryworkers import DeliveryPool

        running.queue = submitter.queue
        if submitter.queue is not None and isinstance(submitter.queue.deliverer, DeliveryPool):
            running.delivery = submitter.queue.deliverer
        challenges = None
        if cfg.static.acme.enabled:
            from postel.acme.service import prepare_storage

            # Host keys and certificates exist before any listener loads them.
            acme_store, challenges = await prepare_storage(cfg)
        smtp_up: Callable[[], str | None]
        if smtp_workers >= 2:
            from postel.smtpworkers import Supervisor

            workers = Supervisor(
                cfg,
                smtp_workers,
                on_wake=submitter.wake,
                log_time=log_time,
                shutdown=stop,
                sockets=sockets,
            )
            await workers.start()
            stack.push_async_callback(workers.stop)
            running.workers = workers
            running.bound.extend(workers.bound)
            smtp_up = workers.health
        else:
            smtp = SMTPService(
                cfg,
                root.accounts,
                root.resolver,
                submitter,
                sockets=sockets,
                credentials=root.credentials,
                limiter=root.limiter,
                evaluations=root.evaldb,
                junk_data=root.junk_data,
            )
            await smtp.start()
            stack.push_async_callback(smtp.stop)
            running.bound.extend(smtp.bound)
            smtp_up = smtp.health
        running.bound.extend(
            await start_extras(root, stack, submitter, sockets=sockets, challenges=challenges)
        )
        # Watchers (webmail event streams) end before the web listeners stop.
        if root.feed is not None:
            stack.push_async_callback(root.feed.stop)
        elif root.live_feed is not None:
            stack.push_async_callback(root.live_feed.stop)
        if challenges is not None:
            from postel.acme.service import start as start_acme

            running.acme = await start_acme(cfg, acme_store, challenges, stack, sockets)
        from postel.certcheck import daily as certificate_checks

        # Expired, not yet valid, names missing, expiry within 14 days: at start, then daily.
        checks = asyncio.create_task(certificate_checks(cfg), name="certificate-checks")
        stack.callback(checks.cancel)
        from postel.control import ControlServer
        from postel.control.commands import handlers

        # CLI changes (accounts, queue) reach this server at once.
        control = ControlServer(
            cfg.datadir.root,
            handlers(cfg, running.bound, submitter.queue),
        )
        await control.start()
        stack.push_async_callback(control.stop)
        from postel.metrics.service import start_listener as start_metrics

        # /metrics and /healthz ([metrics]), once every part runs.
        running.bound.extend(
            await start_metrics(
                cfg, stack, smtp=smtp_up, queue=submitter.queue, store=root.accounts
            )
        )
        for ip, port, kind in running.bound:
            log.info("listening", extra={"ip": ip, "port": port, "service": kind})
        if ready is not None:
            result = ready(running)
            if result is not None:
                await result
        await stop.wait()
        log.info("stopping")
    log.info("stopped")
