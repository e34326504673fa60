"""Wiring the report sender to a configuration: DKIM signer, queue, HTTPS client."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from contextlib import AsyncExitStack, ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from postel.dailyrun import DailyRuns
from postel.dns import Resolver
from postel.httpsclient import HTTPSClientSettings
from postel.tlsrptresultdb.api import TLSResults
from postel.tlsrptsend.loop import DailyLoop
from postel.tlsrptsend.post import post_report
from postel.tlsrptsend.send import Enqueue, Post, ReportSender, Settings

if TYPE_CHECKING:
    from postel.auth import DKIMSigner
    from postel.config import Config
    from postel.queue import QueueSubmitter

_log = logging.getLogger("postel.tlsrptsend")


class QueueEnqueue:
    """Hands a report message to the queue (local recipients straight to their
    account, as submitted mail): few attempts, TLS-Required: No, no REQUIRETLS."""

    prefix = "tlsrpt"  # of the message's temporary file
    is_dmarc_report = False  # see postel.dmarcsend.service.QueueEnqueue

    def __init__(self, submitter: QueueSubmitter, tmpdir: Path) -> None:
        self.submitter = submitter
        self.tmpdir = tmpdir

    async def __call__(self, mail_from: str, rcpt: str, message: bytes) -> None:
        self.tmpdir.mkdir(parents=True, exist_ok=True)
        path = self.tmpdir / f"{self.prefix}-{os.getpid()}-{secrets.token_hex(8)}.eml"
        await asyncio.to_thread(path.write_bytes, message)
        try:
            # The queue reads TLS-Report-Domain (few attempts, bounces counted
            # instead of DSNs) and TLS-Required: No from the header.
            await self.submitter(
                "", mail_from, [rcpt], path, False, is_dmarc_report=self.is_dmarc_report
            )
        finally:
            path.unlink(missing_ok=True)


def adding_submitter(cfg: Config, stack: ExitStack) -> QueueSubmitter:
    """A QueueSubmitter over the data directory's entries, for where no runner
    is at hand (the CLI): the running server's loop notices new entries by
    polling. Closed with *stack*."""
    from postel.queue import QueueSubmitter, SQLiteQueueEntries
    from postel.store import Store

    entries = SQLiteQueueEntries(cfg.datadir)
    stack.callback(entries.close)
    store = Store(cfg.datadir)
    stack.callback(store.close)
    return QueueSubmitter(cfg, entries, store)


def https_post(resolver: Resolver, https: HTTPSClientSettings) -> Post:
    """Posts a report to an https reporting URI (RFC 8460 §3) as *https* allows."""
    ctx = https.ssl_context()
    allowed = https.addresses

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
    resultdb: TLSResults,
    resolver: Resolver,
    *,
    enqueue: Enqueue | None,
    post: Post | None = None,
    spread: bool = True,
    runs: DailyRuns | None = None,
) -> ReportSender:
    if post is None:
        post = https_post(resolver, HTTPSClientSettings.from_config(cfg))
    return ReportSender(
        resultdb,
        resolver,
        Settings.from_config(cfg),
        signer_for=signer_for(cfg),
        enqueue=enqueue,
        post=post,
        spread=spread,
        runs=runs,
    )


async def start_daily_reports(
    cfg: Config,
    resolver: Resolver,
    stack: AsyncExitStack,
    submitter: QueueSubmitter,
    resultdb: TLSResults,
    runs: DailyRuns | None = None,
) -> DailyLoop | None:
    """Start the daily loop for a running server; None when reports are switched off.
    *resultdb*: the process's results (tlsrptresult.db, or shared in PostgreSQL);
    *runs*: whether this node sends a day's run (postel.dailyrun)."""
    if cfg.static.reports.no_outgoing_tls_reports:
        _log.info("outgoing tls reports disabled")
        return None
    sender = make_sender(
        cfg, resultdb, resolver, enqueue=QueueEnqueue(submitter, cfg.datadir.tmp), runs=runs
    )
    loop = DailyLoop(sender.run)
    loop.start()
    stack.push_async_callback(loop.stop)
    _log.info("tls report loop started")
    return loop
