"""Wiring the report sender to a configuration: DKIM signer, queue, HTTPS client."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from collections.abc import Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from postel.dns import Resolver
from postel.tlsrptresultdb import ResultDB
from postel.tlsrptsend.loop import DailyLoop
from postel.tlsrptsend.post import post_report
from postel.tlsrptsend.send import Enqueue, Post, ReportSender, Settings

if TYPE_CHECKING:
    from postel.auth import DKIMSigner
    from postel.config import Config
    from postel.queue import Queue

_log = logging.getLogger("postel.tlsrptsend")


class QueueEnqueue:
    """Hands a report message to the queue (local recipients straight to their
    account, as submitted mail): few attempts, TLS-Required: No, no REQUIRETLS."""

    prefix = "tlsrpt"  # of the message's temporary file
    is_dmarc_report = False  # see postel.dmarcsend.service.QueueEnqueue

    def __init__(self, queue: Queue, tmpdir: Path) -> None:
        self.queue = queue
        self.tmpdir = tmpdir

    async def __call__(self, mail_from: str, rcpt: str, message: bytes) -> None:
        from postel.queue import QueueSubmitter

        self.tmpdir.mkdir(parents=True, exist_ok=True)
        path = self.tmpdir / f"{self.prefix}-{os.getpid()}-{secrets.token_hex(8)}.eml"
        await asyncio.to_thread(path.write_bytes, message)
        try:
            # The queue reads TLS-Report-Domain (few attempts, bounces counted
            # instead of DSNs) and TLS-Required: No from the header.
            await QueueSubmitter(self.queue)(
                "", mail_from, [rcpt], path, False, is_dmarc_report=self.is_dmarc_report
            )
        finally:
            path.unlink(missing_ok=True)


class _NoDeliverer:
    """A queue used only to add messages; the server's queue loop delivers them."""

    async def deliver(self, req: Any) -> Sequence[Any]:
        raise RuntimeError("this queue instance does not deliver")


def adding_queue(cfg: Config) -> Queue:
    """A Queue for adding only (CLI, or when the server's queue is not at hand):
    the running server's loop notices new entries by polling."""
    from postel.queue import Queue
    from postel.store import Store

    return Queue(cfg.datadir, cfg, _NoDeliverer(), Store(cfg.datadir))


def https_post(cfg: Config, resolver: Resolver) -> Post:
    from postel.mtasts.fetch import make_ssl_context
    from postel.netpolicy import AddressPolicy

    ctx = make_ssl_context([cfg.path(p) for p in cfg.static.tls.extra_ca_files])
    allowed = AddressPolicy.from_networks(cfg.static.delivery.allowed_internal_networks)

    async def post(uri: str, body: bytes) -> None:
        await post_report(resolver, uri, body, ssl_context=ctx, addresses=allowed)

    return post


def signer_for(cfg: Config) -> Any:
    def get(domain: str) -> DKIMSigner | None:
        from postel.auth import DKIMSigner

        return DKIMSigner.from_config(cfg, domain)

    return get


def make_sender(
    cfg: Config,
    resultdb: ResultDB,
    resolver: Resolver,
    *,
    enqueue: Enqueue | None,
    post: Post | None = None,
    spread: bool = True,
) -> ReportSender:
    return ReportSender(
        resultdb,
        resolver,
        Settings.from_config(cfg),
        signer_for=signer_for(cfg),
        enqueue=enqueue,
        post=post if post is not None else https_post(cfg, resolver),
        spread=spread,
    )


async def start_daily_reports(
    cfg: Config,
    resolver: Resolver,
    stack: AsyncExitStack,
    queue: Queue | None = None,
    *,
    resultdb: ResultDB | None = None,
) -> DailyLoop | None:
    """Start the daily loop for a running server; None when reports are switched off.
    *resultdb*: the results database the server opened (postel.wiring); else opened here."""
    if cfg.static.reports.no_outgoing_tls_reports:
        _log.info("outgoing tls reports disabled")
        return None
    if queue is None:
        queue = adding_queue(cfg)
        stack.push_async_callback(queue.stop)
        stack.callback(cast(Any, queue.store).close)
    if resultdb is None:
        resultdb = ResultDB.open(cfg.datadir.tlsrptresult_db)
        stack.callback(resultdb.close)
    sender = make_sender(cfg, resultdb, resolver, enqueue=QueueEnqueue(queue, cfg.datadir.tmp))
    loop = DailyLoop(sender.run)
    loop.start()
    stack.push_async_callback(loop.stop)
    _log.info("tls report loop started")
    return loop
