"""Wiring the DMARC report sender to a configuration: DKIM signer, queue, daily loop."""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

from postel.dailyrun import DailyRuns
from postel.dmarcevaldb import EvalDB
from postel.dmarcevaldb.api import Evaluations
from postel.dmarcsend.send import Enqueue, ReportSender, Settings
from postel.dns import Resolver
from postel.tlsrptsend.loop import DailyLoop
from postel.tlsrptsend.service import QueueEnqueue as TLSQueueEnqueue
from postel.tlsrptsend.service import signer_for

if TYPE_CHECKING:
    from postel.config import Config
    from postel.queue import QueueSubmitter

_log = logging.getLogger("postel.dmarcsend")


class QueueEnqueue(TLSQueueEnqueue):
    """Hands a report message to the queue as a DMARC report: local recipients
    straight to their account; remote ones with few attempts, no DSNs and
    bounces counted towards automatic suppression (postel.queue)."""

    prefix = "dmarcrpt"
    is_dmarc_report = True


def make_sender(
    cfg: Config,
    db: Evaluations,
    resolver: Resolver,
    *,
    enqueue: Enqueue | None,
    runs: DailyRuns | None = None,
) -> ReportSender:
    return ReportSender(
        db,
        resolver,
        Settings.from_config(cfg),
        signer_for=signer_for(cfg),
        enqueue=enqueue,
        runs=runs,
    )


async def start_daily_reports(
    cfg: Config,
    resolver: Resolver,
    stack: AsyncExitStack,
    submitter: QueueSubmitter,
    db: Evaluations | None = None,
    runs: DailyRuns | None = None,
) -> DailyLoop | None:
    """Start the daily loop for a running server; None when reports are switched off.
    *db*: the evaluations shared in PostgreSQL (None: dmarceval.db, opened here);
    *runs*: whether this node sends a day's run (postel.dailyrun)."""
    if cfg.static.reports.no_outgoing_dmarc_reports:
        _log.info("outgoing dmarc reports disabled")
        return None
    if db is None:
        local = EvalDB.open(cfg.datadir.dmarceval_db)
        stack.callback(local.close)
        db = local
    sender = make_sender(
        cfg, db, resolver, enqueue=QueueEnqueue(submitter, cfg.datadir.tmp), runs=runs
    )
    loop = DailyLoop(sender.run, logger=_log, what="dmarc report", task_name="dmarcsend")
    loop.start()
    stack.push_async_callback(loop.stop)
    _log.info("dmarc report loop started")
    return loop
