"""One sending run (RFC 7489 §7.2): per policy domain with evaluations waiting,
look up its DMARC record again, honour ri=, verify external destinations
(§7.1), build the report, and queue one DKIM-signed message per mailto
address that takes its size (§6.4), skipping suppressed addresses.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import postel
from postel.auth.errors import DMARCSyntaxError
from postel.dailyrun import DailyRuns, EveryRun
from postel.dmarcevaldb.api import Evaluations
from postel.dmarcsend.build import BuiltReport, build_report, built
from postel.dmarcsend.destinations import (
    ReportURI,
    lookup,
    needs_verification,
    verified,
)
from postel.dmarcsend.group import Pending, pending_by_domain, rows
from postel.dmarcsend.message import compose
from postel.dns import DNSError, Resolver
from postel.tlsrptsend.build import submitter_domain
from postel.tlsrptsend.errors import ReportDeliveryError

if TYPE_CHECKING:
    from postel.auth import DKIMSigner
    from postel.config import Config

_log = logging.getLogger("postel.dmarcsend")

# Evaluations waiting longer than this (a long ri=, DNS failing for weeks) are dropped.
KEEP_DAYS = 32
DAY = dt.timedelta(days=1)


class Enqueue(Protocol):
    """Queue one report message for one recipient (few attempts, no DSNs)."""

    async def __call__(self, mail_from: str, rcpt: str, message: bytes) -> None: ...


@dataclass
class Settings:
    hostname: str
    dkim_domains: list[str]
    sender_localpart: str = "postmaster"
    disabled: bool = False
    max_records: int = 10000

    @classmethod
    def from_config(cls, cfg: Config) -> Settings:
        r = cfg.static.reports
        return cls(
            hostname=cfg.static.hostname,
            dkim_domains=[n for n, d in cfg.domains.domains.items() if d.dkim.sign],
            sender_localpart=r.report_sender_localpart,
            disabled=r.no_outgoing_dmarc_reports,
            max_records=r.dmarc_report_max_records,
        )


# Statuses that keep the evaluations for a later run; every other status
# finishes them ("sent", "failed", or a reason no report went out).
KEEP_STATUSES = frozenset({"temporary-dns-error", "interval-not-reached"})


@dataclass
class Outcome:
    """What happened to one policy domain's evaluations."""

    policy_domain: str
    status: str = ""
    detail: str = ""
    evaluations: int = 0
    report: BuiltReport | None = None
    mailto: list[str] = field(default_factory=list)
    suppressed: list[str] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)
    too_large: list[str] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)
    delivered: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    messages: dict[str, bytes] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "policy-domain": self.policy_domain,
            "status": self.status,
            "evaluations": self.evaluations,
        }
        if self.detail:
            out["detail"] = self.detail
        if self.report is not None:
            out["mailto"] = self.mailto
            out["suppressed"] = self.suppressed
            out["unverified"] = self.unverified
            out["too-large"] = self.too_large
            out["unsupported"] = self.unsupported
            out["filename"] = self.report.filename
            out["report"] = self.report.report.to_dict()
        if self.delivered or self.failed:
            out["delivered"] = self.delivered
            out["failed"] = self.failed
        return out


class ReportSender:
    """Sends the daily DMARC aggregate reports from the stored evaluations.

    *signer_for* gives the DKIM signer of the submitter domain, *enqueue*
    queues a report message; *now* is injectable for tests. *runs* says
    whether this process sends a day's run (nodes sharing the evaluations
    send each day's reports once between them).
    """

    def __init__(
        self,
        db: Evaluations,
        resolver: Resolver,
        settings: Settings,
        *,
        signer_for: Callable[[str], DKIMSigner | None],
        enqueue: Enqueue | None,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        logger: logging.Logger | None = None,
        runs: DailyRuns | None = None,
    ) -> None:
        self.db = db
        self.runs: DailyRuns = runs or EveryRun()
        self.resolver = resolver
        self.settings = settings
        self.signer_for = signer_for
        self.enqueue = enqueue
        self.now = now
        self.log = logger or _log

    async def run(self) -> list[Outcome]:
        """Drop expired evaluations, then report everything up to yesterday (UTC)."""
        if self.settings.disabled:
            self.log.info("outgoing dmarc reports disabled")
            return []
        today = self.now().astimezone(dt.UTC).date()
        with self.runs.claim("dmarc", today) as mine:
            if not mine:
                self.log.debug("dmarc report run left to another node")
                return []
            deleted = self.db.delete_older_than(today - dt.timedelta(days=KEEP_DAYS))
            if deleted:
                self.log.info("expired dmarc evaluations deleted", extra={"rows": deleted})
            return await self.send_day(today - DAY)

    async def send_day(self, day: dt.date, *, dry_run: bool = False) -> list[Outcome]:
        """Report the evaluations of *day* and the days before it still waiting;
        with *dry_run* nothing is sent, deleted or marked."""
        submitter = submitter_domain(self.settings.hostname, self.settings.dkim_domains)
        outcomes: list[Outcome] = []
        for pending in pending_by_domain(self.db.evaluations(through=day)):
            o = await self._domain(pending, day, submitter, dry_run)
            outcomes.append(o)
            self.log.info(
                "dmarc report",
                extra={
                    "policy_domain": o.policy_domain,
                    "day": day.isoformat(),
                    "status": o.status,
                    "detail": o.detail,
                    "dry_run": dry_run,
                },
            )
            # "sent" and "failed" deleted theirs before sending.
            if not dry_run and o.status not in KEEP_STATUSES | {"sent", "failed"}:
                self.db.delete([e.id for e in pending.evaluations])
        return outcomes

    async def _domain(
        self, pending: Pending, day: dt.date, submitter: str | None, dry_run: bool
    ) -> Outcome:
        pd = pending.policy_domain
        o = Outcome(pd, evaluations=len(pending.evaluations))
        if pending.only_optional:
            o.status, o.detail = "only-report-mail", "no reports about report mail alone"
            return o
        if submitter is None:
            o.status = "no-submitter"
            o.detail = f"no domain with DKIM signing in {self.settings.hostname} or its parents"
            return o
        try:
            found = await lookup(self.resolver, pd)
        except DMARCSyntaxError as e:
            o.status, o.detail = "bad-record", f"_dmarc.{pd}: {e}"
            return o
        except DNSError as e:
            o.status, o.detail = "temporary-dns-error", f"_dmarc.{pd}: {type(e).__name__}: {e}"
            return o
        if found is None:
            o.status, o.detail = "no-record", f"no DMARC record at _dmarc.{pd}"
            return o
        if not found.uris:
            o.status, o.detail = "no-addresses", f"{found.name} has no rua"
            return o
        # RFC 7489 §6.3 ri=: reports at most this often (in whole days here).
        period_end = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC) + DAY
        last = self.db.last_report_end(pd)
        every = dt.timedelta(days=max(1, math.ceil(found.interval / 86400)))
        if last is not None and period_end - last < every:
            o.status = "interval-not-reached"
            o.detail = (
                f"ri={found.interval}: next report for the period ending {last + every:%Y-%m-%d}"
            )
            return o
        first_day = pending.first_day
        if last is not None and last.date() > first_day:
            first_day = last.date()
        report = build_report(
            rows(pending.evaluations),
            pending.latest(),
            first_day=first_day,
            last_day=day,
            submitter=submitter,
            contact=f"{self.settings.sender_localpart}@{submitter}",
            generator=f"postel {postel.__version__}",
            max_records=self.settings.max_records,
        )
        o.report = built(report, submitter)
        try:
            await self._addresses(o, found.uris, submitter)
        except DNSError as e:
            o.status, o.detail = "temporary-dns-error", f"verifying destinations: {e}"
            return o
        if not o.mailto:
            o.status = "no-addresses"
            o.detail = "no usable address: " + ", ".join(
                o.suppressed + o.unverified + o.too_large + o.unsupported
            )
            return o
        if dry_run:
            o.status = "would-send"
            return o
        # Before sending: a crash must not send the same report twice.
        self.db.set_last_report_end(pd, period_end)
        self.db.delete([e.id for e in pending.evaluations])
        await self._deliver(o, submitter)
        o.status = "sent" if o.delivered else "failed"
        return o

    async def _addresses(self, o: Outcome, uris: list[ReportURI], submitter: str) -> None:
        """Sort *uris* into usable mailto addresses and the reasons others are not."""
        assert o.report is not None
        now = self.now()
        sender = f"{self.settings.sender_localpart}@{submitter}"
        for u in uris:
            if not u.address:
                o.unsupported.append(u.uri)
                continue
            if self.db.is_suppressed(u.address, now):
                o.suppressed.append(u.uri)
                continue
            if needs_verification(o.policy_domain, u.domain) and not await verified(
                self.resolver, o.policy_domain, u.domain
            ):
                o.unverified.append(u.uri)
                continue
            msg = compose(o.report, from_addr=sender, to_addr=u.address, date=now)
            # RFC 7489 §6.4: a report larger than the URI's limit is not sent there.
            if u.max_bytes is not None and len(msg) > u.max_bytes:
                o.too_large.append(u.uri)
                continue
            if u.address not in o.mailto:
                o.mailto.append(u.address)
                o.messages[u.address] = msg

    async def _deliver(self, o: Outcome, submitter: str) -> None:
        sender = f"{self.settings.sender_localpart}@{submitter}"
        signer: DKIMSigner | None = None
        signer_error: Exception | None = None
        try:
            signer = self.signer_for(submitter)
        except Exception as e:  # a broken key must not stop the other reports
            signer_error = e
        for rcpt in o.mailto:
            try:
                if signer_error is not None:
                    raise signer_error
                if self.enqueue is None:
                    raise ReportDeliveryError(
                        "no queue to send mail", uri=f"mailto:{rcpt}", permanent=False
                    )
                msg = o.messages[rcpt]
                if signer is not None:
                    from postel.auth import sign_message

                    msg = sign_message(signer, msg)
                await self.enqueue(sender, rcpt, msg)
                o.delivered.append(f"mailto:{rcpt}")
            except Exception as e:
                o.failed[f"mailto:{rcpt}"] = str(e)
                self.log.error(
                    "cannot queue dmarc report",
                    extra={"rcpt": rcpt, "policy_domain": o.policy_domain, "err": repr(e)},
                )
