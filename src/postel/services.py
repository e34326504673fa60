"""Optional services of a running instance, wired by what is configured.

Kept apart from server.py so that each later service (queue, web, reports)
adds itself here without touching the start-up sequence.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Mapping
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from postel.config import Config
    from postel.queue import QueueSubmitter
    from postel.tlsreload import ChallengeSource
    from postel.wiring import ServeRoot

# Upper bound (seconds) on how long delivery keeps a DNS answer; the records'
# TTLs (RFC 2308 §5 for negative answers) usually end it sooner.
DELIVERY_DNS_MAX_AGE = 300.0


async def make_submitter(
    root: ServeRoot,
    stack: AsyncExitStack,
    *,
    log_time: bool = True,
    shutdown: asyncio.Event | None = None,
) -> QueueSubmitter:
    """Where submitted mail goes: local accounts directly, the rest through the
    outgoing queue, whose delivery loop starts here. Its deliveries run in
    worker processes by ``[delivery] workers`` (logging with timestamps if
    *log_time*; not restarted once *shutdown* is set), or in this process."""
    from postel.delivery import Deliverer
    from postel.dns.cache import CachingResolver
    from postel.mtastsdb import refresh_loop
    from postel.queue import OutcomeRecorder, QueueRunner, QueueSubmitter
    from postel.queue.deliver import DelivererLike
    from postel.queue.recorder import DMARCBounce
    from postel.wiring import open_queue_entries

    cfg, store, resolver, mtastsdb, resultdb = (
        root.cfg,
        root.accounts,
        root.resolver,
        root.mtastsdb,
        root.resultdb,
    )
    # RFC 8461 §10.2 cache refresh, daily (docs/mta-sts.md, Refresh).
    refresh_stop = asyncio.Event()
    refresher = asyncio.create_task(refresh_loop(mtastsdb, resolver, refresh_stop))

    async def stop_refresher() -> None:
        refresh_stop.set()
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(refresher, 10)  # cancelled when still fetching

    stack.push_async_callback(stop_refresher)
    # The data directory's queue, or on PostgreSQL the queue of all nodes.
    entries = open_queue_entries(cfg)
    stack.callback(entries.close)
    deliverer: DelivererLike
    workers = delivery_worker_count(cfg)
    if workers >= 2:
        from postel.deliveryworkers import DeliveryPool

        # Each worker builds the Deliverer below for itself; this process keeps
        # claiming and recording (docs/decisions.md, delivery processes).
        pool = DeliveryPool(cfg, workers, log_time=log_time, shutdown=shutdown)
        await pool.start()
        # Runs after queue.stop (LIFO): each worker QUITs its idle connections.
        stack.push_async_callback(pool.aclose)
        deliverer = pool
    else:
        in_process = Deliverer(
            cfg,
            # Each message to a domain asks for its MX, addresses, TLSA and MTA-STS
            # TXT records again: answers are kept for their TTL, DNSSEC status included.
            CachingResolver(resolver, max_age=DELIVERY_DNS_MAX_AGE),
            mtastsdb,
            store,
        )
        # Runs after queue.stop (LIFO): QUIT on the idle cached SMTP connections.
        stack.push_async_callback(in_process.aclose)
        deliverer = in_process
    # Domain security is remembered by the sender's account (either store).
    recorder = OutcomeRecorder(
        entries,
        resultdb,
        root.accounts,
        dmarc_bounce=DMARCBounce(cfg.datadir.dmarceval_db, shared=root.evaldb),
    )
    queue = QueueRunner(cfg, entries, deliverer, recorder, store)
    queue.start()
    stack.push_async_callback(queue.stop)
    from postel.tlsrptsend.service import start_daily_reports

    # Daily outgoing TLS reports (RFC 8460), sent through this queue.
    submitter = QueueSubmitter(cfg, entries, store, queue=queue)
    # On PostgreSQL one node sends each day's reports (root.daily_runs).
    await start_daily_reports(cfg, resolver, stack, submitter, resultdb, root.daily_runs)
    from postel.dmarcsend.service import start_daily_reports as start_dmarc_reports

    # Daily outgoing DMARC aggregate reports (RFC 7489 §7.2), through the same queue.
    await start_dmarc_reports(cfg, resolver, stack, submitter, root.evaldb, root.daily_runs)

    from postel.reportfindings.service import start_daily_digest

    # Daily mail to the admin of problems that received reports show; on
    # PostgreSQL from the reports all nodes received, sent by one of them.
    await start_daily_digest(
        cfg, root.accounts, submitter, stack, received=root.received, runs=root.daily_runs
    )
    return submitter


def delivery_worker_count(cfg: Config) -> int:
    """``[delivery] workers``: 0 automatic (CPUs, at most 4), 1 this process.
    Delivery to local accounts only (localserve) stays in this process."""
    from postel.smtpworkers import worker_count

    if cfg.static.delivery.local_only:
        return 1
    return worker_count(cfg.static.delivery.workers)


async def start_extras(
    root: ServeRoot,
    stack: AsyncExitStack,
    submitter: QueueSubmitter | None = None,
    sockets: Mapping[tuple[str, str, str], socket.socket] | None = None,
    *,
    challenges: ChallengeSource | None = None,
) -> list[tuple[str, int, str]]:
    """Start services beyond SMTP (IMAP, web); return what they listen on.

    *submitter* is the one from :func:`make_submitter`: the web apps send and
    act on the queue through it, so the delivery loop wakes at once. *sockets*:
    listening sockets bound before the switch of user (postel.privdrop).
    """
    from postel.imapserver import IMAPService
    from postel.web import start_web

    # IMAP listeners (143 with STARTTLS, 993 with TLS), in this process.
    imap = IMAPService(
        root.cfg,
        root.accounts,
        sockets=sockets,
        feed=root.feed,
        credentials=root.credentials,
        limiter=root.limiter,
        changes=root.changes,
        open_store=root.open_mailstore,
        junk_data=root.junk_data,
    )
    await imap.start()
    stack.push_async_callback(imap.stop)
    queue = submitter.queue if submitter is not None else None
    # Web listeners: admin, webmail, MTA-STS policies.
    return imap.bound + await start_web(
        root.cfg,
        root.accounts,
        root.resolver,
        stack,
        queue=queue,
        submitter=submitter,
        resultdb=root.resultdb,
        sockets=sockets,
        challenges=challenges,
        feed=root.live,
        limiter=root.limiter,
        mtastsdb=root.mtastsdb,
        session_stores=root.web_sessions,
        passwords=root.web_passwords,
        received=root.received,
        junk_data=root.junk_data,
    )
