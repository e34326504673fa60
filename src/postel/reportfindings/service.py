"""The daily digest: after each UTC day, the findings of the reports received
that day go to the admin (the postmaster mailbox, or an address), once.

On one node the reports are the data directory's tlsrpt.db and dmarcrpt.db
and a marker file remembers the last day sent. Nodes sharing PostgreSQL read
the received reports they share, and one of them sends each day's digest:
the run takes its turn as the daily report runs do (postel.dailyrun,
kind "digest"), on top of the node's own marker."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from postel import dmarcdb, tlsrptdb
from postel.dailyrun import DailyRuns, EveryRun
from postel.dmarcdb.api import ReceivedDMARCReports
from postel.fsutil import fsync_dir, fsync_file
from postel.reportfindings.digest import digest_message
from postel.reportfindings.findings import Findings
from postel.reportfindings.gather import Settings, gather
from postel.tlsrptdb.api import ReceivedTLSReports

if TYPE_CHECKING:
    from postel.config import Config
    from postel.queue import QueueSubmitter
    from postel.receivedreports import ReceivedReports
    from postel.store.api import Accounts

_log = logging.getLogger("postel.reportfindings")

# Delivers (rcpt, message); rcpt "" means the postmaster mailbox.
Deliver = Callable[[str, bytes], Awaitable[None]]


def day_window(day: dt.date) -> tuple[str, str]:
    """[since, until) bounds on the stored "received" timestamps of *day* (UTC)."""
    return f"{day.isoformat()}T00:00:00", f"{(day + dt.timedelta(days=1)).isoformat()}T00:00:00"


@contextmanager
def received_reports(
    tlsrpt_db: Path, dmarcrpt_db: Path, shared: ReceivedReports | None
) -> Iterator[tuple[ReceivedTLSReports, ReceivedDMARCReports]]:
    """*shared*'s reports (left open), else the two files (closed afterwards)."""
    if shared is not None:
        yield shared.tls, shared.dmarc
        return
    with tlsrptdb.open(tlsrpt_db) as tdb, dmarcdb.open(dmarcrpt_db) as ddb:
        yield tdb, ddb


def findings_of_day(
    tlsrpt_db: Path,
    dmarcrpt_db: Path,
    settings: Settings,
    day: dt.date,
    shared: ReceivedReports | None = None,
) -> Findings:
    since, until = day_window(day)
    with received_reports(tlsrpt_db, dmarcrpt_db, shared) as (tdb, ddb):
        return gather(tdb, ddb, settings, received_since=since, received_until=until)


class DigestSender:
    """Mails the digest of the previous UTC day, at most once per day.

    *received*: the reports the nodes share (None: the two files); *runs*:
    whether this node's run sends the day's digest (default: every run)."""

    def __init__(
        self,
        settings: Settings,
        tlsrpt_db: Path,
        dmarcrpt_db: Path,
        marker: Path,
        deliver: Deliver,
        *,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        logger: logging.Logger | None = None,
        received: ReceivedReports | None = None,
        runs: DailyRuns | None = None,
    ) -> None:
        self.settings = settings
        self.received = received
        self.runs: DailyRuns = runs if runs is not None else EveryRun()
        self.tlsrpt_db = tlsrpt_db
        self.dmarcrpt_db = dmarcrpt_db
        self.marker = marker
        self.deliver = deliver
        self.now = now
        self.log = logger or _log

    def _last_day(self) -> str:
        try:
            return self.marker.read_text().strip()
        except FileNotFoundError:
            return ""

    def _mark(self, day: dt.date) -> None:
        tmp = self.marker.with_name(self.marker.name + ".tmp")
        tmp.write_text(day.isoformat() + "\n")
        fsync_file(tmp)
        os.replace(tmp, self.marker)
        fsync_dir(self.marker.parent)

    async def run(self) -> Findings | None:
        """The previous day's digest; None when already done or switched off."""
        today = self.now().astimezone(dt.UTC).date()
        day = today - dt.timedelta(days=1)
        if self.settings.digest_to == "-" or self._last_day() >= day.isoformat():
            return None
        # On PostgreSQL one node's run sends the day's digest for all.
        with self.runs.claim("digest", today) as mine:
            if not mine:
                self.log.debug("findings digest left to another node", extra={"day": str(day)})
                return None
            found = await self._send(day)
        await asyncio.to_thread(self._mark, day)
        return found

    async def _send(self, day: dt.date) -> Findings:
        found = await asyncio.to_thread(
            findings_of_day, self.tlsrpt_db, self.dmarcrpt_db, self.settings, day, self.received
        )
        if found:
            self.log.warning(
                "others report problems with our domains",
                extra={"day": day.isoformat(), "tls": len(found.tls), "dmarc": len(found.dmarc)},
            )
            s = self.settings
            rcpt = s.digest_to or f"postmaster@{s.hostname}"
            message = digest_message(
                found,
                day,
                mail_from=f"{s.sender_localpart}@{s.hostname}",
                rcpt=rcpt,
                hostname=s.hostname,
                now=self.now(),
            )
            await self.deliver(s.digest_to, message)
            self.log.info("findings digest sent", extra={"day": day.isoformat(), "rcpt": rcpt})
        return found


def local_deliver(store: Accounts, settings: Settings) -> Deliver:
    """Into the postmaster account's postmaster mailbox (the store's delivery)."""

    async def deliver(rcpt: str, message: bytes) -> None:
        assert rcpt == ""
        target = (settings.postmaster_account, settings.postmaster_mailbox)
        _, error = await store.deliver_bytes([target], message)
        if error is not None:
            raise error

    return deliver


def make_deliver(cfg: Config, store: Accounts, submitter: QueueSubmitter) -> Deliver:
    """The postmaster mailbox for "", the queue for an address."""
    from postel.tlsrptsend.service import QueueEnqueue

    settings = Settings.from_config(cfg)
    local = local_deliver(store, settings)
    enqueue = QueueEnqueue(submitter, cfg.datadir.tmp)
    mail_from = f"{settings.sender_localpart}@{settings.hostname}"

    async def deliver(rcpt: str, message: bytes) -> None:
        if rcpt:
            await enqueue(mail_from, rcpt, message)
        else:
            await local(rcpt, message)

    return deliver


async def start_daily_digest(
    cfg: Config,
    store: Accounts,
    submitter: QueueSubmitter,
    stack: AsyncExitStack,
    *,
    received: ReceivedReports | None = None,
    runs: DailyRuns | None = None,
) -> None:
    """Run the digest after every UTC day in a running server; *received* and
    *runs*: the reports and daily runs the nodes share on PostgreSQL."""
    from postel.tlsrptsend.loop import DailyLoop

    settings = Settings.from_config(cfg)
    if settings.digest_to == "-":
        _log.info("findings digest disabled")
        return
    dd = cfg.datadir
    sender = DigestSender(
        settings,
        dd.tlsrpt_db,
        dd.dmarcrpt_db,
        dd.findings_marker,
        make_deliver(cfg, store, submitter),
        received=received,
        runs=runs,
    )
    loop = DailyLoop(sender.run, what="findings digest", task_name="findings", logger=_log)
    loop.start()
    stack.push_async_callback(loop.stop)
