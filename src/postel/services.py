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
from typing import TYPE_CHECKING, Any

from postel.config import Config

if TYPE_CHECKING:
    from postel.tlsreload import ChallengeSource

# Upper bound (seconds) on how long delivery keeps a DNS answer; the records'
# TTLs (RFC 2308 §5 for negative answers) usually end it sooner.
DELIVERY_DNS_MAX_AGE = 300.0


async def make_submitter(cfg: Config, store: Any, resolver: Any, stack: AsyncExitStack) -> Any:
    """Where submitted mail goes: local accounts directly, the rest through the
    outgoing queue, whose delivery loop starts here."""
    from postel.delivery import Deliverer
    from postel.dns.cache import CachingResolver
    from postel.mtastsdb import MTASTSDB, refresh_loop
    from postel.netpolicy import AddressPolicy
    from postel.queue import OutcomeRecorder, QueueRunner, QueueSubmitter, SQLiteQueueEntries
    from postel.queue.recorder import DMARCBounce
    from postel.tlsrptresultdb import ResultDB

    allowed = AddressPolicy.from_networks(cfg.static.delivery.allowed_internal_networks)
    mtastsdb = MTASTSDB.open(
        cfg.datadir.mtasts_db,
        extra_ca_files=[cfg.path(p) for p in cfg.static.tls.extra_ca_files],
        addresses=allowed,
    )
    stack.callback(mtastsdb.close)
    # RFC 8461 §10.2 cache refresh, daily (docs/mta-sts.md, Refresh).
    refresh_stop = asyncio.Event()
    refresher = asyncio.create_task(refresh_loop(mtastsdb, resolver, refresh_stop))

    async def stop_refresher() -> None:
        refresh_stop.set()
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(refresher, 10)  # cancelled when still fetching

    stack.push_async_callback(stop_refresher)
    # The process's one connection to tlsrptresult.db: the recorder of delivery
    # attempts, the daily TLS reports and the admin pages share it.
    resultdb = ResultDB.open(cfg.datadir.tlsrptresult_db)
    stack.callback(resultdb.close)
    entries = SQLiteQueueEntries(cfg.datadir)
    stack.callback(entries.close)
    deliverer = Deliverer(
        cfg,
        # Each message to a domain asks for its MX, addresses, TLSA and MTA-STS
        # TXT records again: answers are kept for their TTL, DNSSEC status included.
        CachingResolver(resolver, max_age=DELIVERY_DNS_MAX_AGE),
        mtastsdb,
        store,
    )
    # Runs after queue.stop (LIFO): QUIT on the idle cached SMTP connections.
    stack.push_async_callback(deliverer.aclose)
    recorder = OutcomeRecorder(
        entries, resultdb, store, dmarc_bounce=DMARCBounce(cfg.datadir.dmarceval_db)
    )
    queue = QueueRunner(cfg, entries, deliverer, recorder, store)
    queue.start()
    stack.push_async_callback(queue.stop)
    from postel.tlsrptsend.service import start_daily_reports

    # Daily outgoing TLS reports (RFC 8460), sent through this queue.
    submitter = QueueSubmitter(cfg, entries, store, queue=queue)
    await start_daily_reports(cfg, resolver, stack, submitter, resultdb)
    from postel.dmarcsend.service import start_daily_reports as start_dmarc_reports

    # Daily outgoing DMARC aggregate reports (RFC 7489 §7.2), through the same queue.
    await start_dmarc_reports(cfg, resolver, stack, submitter)

    from postel.reportfindings.service import start_daily_digest

    # Daily mail to the admin of problems that received reports show.
    await start_daily_digest(cfg, store, submitter, stack)
    return submitter


async def start_extras(
    cfg: Config,
    store: Any,
    resolver: Any,
    stack: AsyncExitStack,
    submitter: Any = None,
    sockets: Mapping[tuple[str, str, str], socket.socket] | None = None,
    *,
    challenges: ChallengeSource | None = None,
    feed: Any = None,
) -> list[tuple[str, int, str]]:
    """Start services beyond SMTP (IMAP, web); return what they listen on.

    *submitter* is the one from :func:`make_submitter`: the web apps send and
    act on the queue through it, so the delivery loop wakes at once. *sockets*:
    listening sockets bound before the switch of user (postel.privdrop).
    """
    from postel.imapserver import IMAPService
    from postel.queue import QueueRunner
    from postel.web import start_web

    # IMAP listeners (143 with STARTTLS, 993 with TLS), in this process.
    imap = IMAPService(cfg, store, sockets=sockets, feed=feed)
    await imap.start()
    stack.push_async_callback(imap.stop)
    queue = getattr(submitter, "queue", None)
    # Web listeners: admin, webmail, MTA-STS policies.
    return imap.bound + await start_web(
        cfg,
        store,
        resolver,
        stack,
        queue=queue,
        submitter=submitter,
        resultdb=queue.recorder.resultdb if isinstance(queue, QueueRunner) else None,
        sockets=sockets,
        challenges=challenges,
        feed=feed,
    )
