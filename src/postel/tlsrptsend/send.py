"""One sending run: per key, look up the TLSRPT record, build the report, mark
the rows sent, queue one DKIM-signed message per mailto address and POST to
https addresses (RFC 8460 §5; docs/tls-reporting.md, Sending).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from postel.dailyrun import DailyRuns, EveryRun
from postel.dns import DNSError, Resolver
from postel.metrics import record as metrics
from postel.tlsrpt.errors import RecordError
from postel.tlsrpt.lookup import lookup_record
from postel.tlsrpt.report import report_to_dict
from postel.tlsrptresultdb import ResultRow
from postel.tlsrptresultdb.api import TLSResults
from postel.tlsrptsend.build import BuiltReport, built, submitter_domain
from postel.tlsrptsend.errors import ReportDeliveryError
from postel.tlsrptsend.group import Key, Selection, has_failures, keys_for_day, select
from postel.tlsrptsend.message import compose, sign

if TYPE_CHECKING:
    from postel.auth import DKIMSigner
    from postel.config import Config

_log = logging.getLogger("postel.tlsrptsend")

KEEP_AFTER_END = dt.timedelta(hours=60)  # rows older than this are deleted
SPREAD_TOTAL = 4 * 3600.0  # reports of one run spread over at most 4 h ...
SPREAD_MAX_GAP = 300.0  # ... and at most 5 min apart


class Enqueue(Protocol):
    """Queue one message for one recipient (few attempts, never REQUIRETLS)."""

    async def __call__(self, mail_from: str, rcpt: str, message: bytes) -> None: ...


class Post(Protocol):
    """POST the gzipped report to an https: URI; raises ReportDeliveryError."""

    async def __call__(self, uri: str, body: bytes) -> None: ...


@dataclass
class Settings:
    hostname: str
    dkim_domains: list[str]
    sender_localpart: str = "postmaster"
    all_success: bool = False  # also report when nothing failed
    disabled: bool = False  # global off switch

    @classmethod
    def from_config(cls, cfg: Config) -> Settings:
        r = cfg.static.reports
        return cls(
            hostname=cfg.static.hostname,
            dkim_domains=[n for n, d in cfg.domains.domains.items() if d.dkim.sign],
            sender_localpart=r.report_sender_localpart,
            all_success=r.outgoing_tls_reports_for_all_success,
            disabled=r.no_outgoing_tls_reports,
        )


# Outcome statuses: "sent", "failed" (no address took it) and "would-send" are
# reports; "temporary-dns-error" keeps the rows for the next run; every other
# status finishes the key unsent.
KEEP_STATUSES = frozenset({"temporary-dns-error"})


@dataclass
class Outcome:
    """What happened to one key."""

    policy_domain: str
    day: dt.date
    status: str
    detail: str = ""
    report: BuiltReport | None = None
    mailto: list[str] = field(default_factory=list)
    https: list[str] = field(default_factory=list)
    suppressed: list[str] = field(default_factory=list)
    delivered: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "policy-domain": self.policy_domain,
            "day": self.day.isoformat(),
            "status": self.status,
        }
        if self.detail:
            out["detail"] = self.detail
        if self.report is not None:
            out["mailto"] = self.mailto
            out["https"] = self.https
            out["suppressed"] = self.suppressed
            out["filename"] = self.report.filename
            out["report"] = report_to_dict(self.report.report)
        if self.delivered or self.failed:
            out["delivered"] = self.delivered
            out["failed"] = self.failed
        return out


class ReportSender:
    """Sends the daily TLS reports from the stored results.

    *signer_for* gives the DKIM signer of the submitter domain, *enqueue* queues
    a report message, *post* delivers to https: URIs. *now* and *sleep* are
    injectable for tests; *spread* spaces the reports of one run over time.
    *runs* says whether this process sends a day's run (nodes sharing the
    results send each day's reports once between them).
    """

    def __init__(
        self,
        resultdb: TLSResults,
        resolver: Resolver,
        settings: Settings,
        *,
        signer_for: Callable[[str], DKIMSigner | None],
        enqueue: Enqueue | None,
        post: Post | None,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        spread: bool = True,
        logger: logging.Logger | None = None,
        runs: DailyRuns | None = None,
    ) -> None:
        self.db = resultdb
        self.runs: DailyRuns = runs or EveryRun()
        self.resolver = resolver
        self.settings = settings
        self.signer_for = signer_for
        self.enqueue = enqueue
        self.post = post
        self.now = now
        self.sleep = sleep
        self.spread = spread
        self.log = logger or _log

    # -- the run ----------------------------------------------------------

    async def run(self) -> list[Outcome]:
        """Delete expired rows, then report every finished day that has rows."""
        if self.settings.disabled:
            self.log.info("outgoing tls reports disabled")
            return []
        now = self.now().astimezone(dt.UTC)
        with self.runs.claim("tls", now.date()) as mine:
            if not mine:
                self.log.debug("tls report run left to another node")
                return []
            deleted = self.db.delete_older_than((now - KEEP_AFTER_END).date())
            if deleted:
                self.log.info("expired tls results deleted", extra={"rows": deleted})
            out: list[Outcome] = []
            for day in self.db.days():
                if day < now.date():
                    out.extend(await self.send_day(day))
            return out

    async def send_day(self, day: dt.date, *, dry_run: bool = False) -> list[Outcome]:
        """Report the results of *day*; with *dry_run* nothing is sent, marked or deleted."""
        rows = self.db.rows(day=day)
        keys = keys_for_day(rows, day)
        submitter = submitter_domain(self.settings.hostname, self.settings.dkim_domains)
        wanted = sum(1 for k in keys if k.send_report)
        gap = (
            0.0
            if dry_run or not self.spread
            else min(SPREAD_MAX_GAP, SPREAD_TOTAL / max(1, wanted))
        )
        outcomes: list[Outcome] = []
        sent_any = False
        for key in keys:
            if sent_any and gap:
                await self.sleep(gap)
            outcome = await self._key(rows, key, submitter, dry_run)
            sent_any = outcome.status == "sent"
            outcomes.append(outcome)
            if not dry_run:
                metrics.tlsrpt_report(outcome.status)
            self.log.info(
                "tls report",
                extra={
                    "policy_domain": key.policy_domain,
                    "day": day.isoformat(),
                    "status": outcome.status,
                    "detail": outcome.detail,
                    "dry_run": dry_run,
                },
            )
            if not dry_run and outcome.status == "sent":
                rows = self.db.rows(day=day)  # the sent marks matter to later keys
        if not dry_run:
            self._cleanup(day, rows, outcomes)
        return outcomes

    def _cleanup(self, day: dt.date, rows: list[ResultRow], outcomes: list[Outcome]) -> None:
        """Delete the rows whose keys are done; rows of keys that met a temporary
        DNS error stay, also host rows belonging to such a recipient domain."""
        keep = {o.policy_domain for o in outcomes if o.status in KEEP_STATUSES}
        for r in rows:
            if r.policy_domain in keep or r.recipient_domain in keep:
                continue
            self.db.delete(day, r.policy_domain, recipient_domain=r.recipient_domain)

    # -- one key ----------------------------------------------------------

    async def _key(
        self, rows: list[ResultRow], key: Key, submitter: str | None, dry_run: bool
    ) -> Outcome:
        o = Outcome(key.policy_domain, key.day, "")
        if not key.send_report:
            o.status, o.detail = "not-requested", "no result asked for a report"
            return o
        if submitter is None:
            o.status = "no-submitter"
            o.detail = f"no domain with DKIM signing in {self.settings.hostname} or its parents"
            return o
        try:
            found = await lookup_record(self.resolver, key.policy_domain)
        except RecordError as e:
            o.status, o.detail = "bad-record", str(e)
            return o
        except DNSError as e:
            # Keep the rows for the next run (docs/tls-reporting.md, One report).
            o.status, o.detail = "temporary-dns-error", f"{type(e).__name__}: {e}"
            return o
        if found.record is None:
            o.status, o.detail = "no-record", f"no TLSRPT record at {found.name}"
            return o
        addresses = list(found.record.rua)
        sel = select(rows, key, addresses)
        if not sel.policies:
            o.status, o.detail = "nothing-new", "every result was already reported"
            return o
        if not self.settings.all_success and not has_failures(sel.policies):
            o.status, o.detail = "no-failures", "every session succeeded"
            return o
        now = self.now()
        for uri in found.record.mailto_addresses():
            (o.suppressed if self.db.is_suppressed(uri, now) else o.mailto).append(uri)
        for uri in found.record.https_uris():
            (o.suppressed if self.db.is_suppressed(uri, now) else o.https).append(uri)
        unsupported = [
            u for u in addresses if u[:7].lower() != "mailto:" and u[:6].lower() != "https:"
        ]
        o.report = built(
            sel.policies, day=key.day, policy_domain=key.policy_domain, submitter=submitter
        )
        if not o.mailto and not o.https:
            o.status = "suppressed" if o.suppressed else "no-addresses"
            o.detail = ", ".join(o.suppressed or unsupported)
            return o
        if dry_run:
            o.status = "would-send"
            return o
        self._mark(sel, addresses)  # before sending: a crash must not repeat reports
        await self._deliver(o, submitter)
        o.status = "sent" if o.delivered else "failed"
        return o

    def _mark(self, sel: Selection, addresses: Sequence[str]) -> None:
        day = sel.key.day
        for r in sel.recipient_rows:
            self.db.mark_sent(
                day,
                r.policy_domain,
                to_recipient_domain=True,
                reporting_addresses=list(addresses),
                recipient_domain=r.recipient_domain,
            )
        for r in sel.host_rows:
            self.db.mark_sent(
                day, r.policy_domain, to_recipient_domain=False, recipient_domain=r.recipient_domain
            )

    async def _deliver(self, o: Outcome, submitter: str) -> None:
        assert o.report is not None
        sender = f"{self.settings.sender_localpart}@{submitter}"
        if o.mailto:
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
                            "no queue to send mail", uri=rcpt, permanent=False
                        )
                    msg = compose(o.report, from_addr=sender, to_addr=rcpt, date=self.now())
                    if signer is not None:
                        msg = sign(signer, msg)
                    await self.enqueue(sender, rcpt, msg)
                    o.delivered.append(f"mailto:{rcpt}")
                except Exception as e:
                    o.failed[f"mailto:{rcpt}"] = str(e)
                    self.log.error(
                        "cannot queue tls report",
                        extra={"rcpt": rcpt, "policy_domain": o.policy_domain, "err": repr(e)},
                    )
        for uri in o.https:
            try:
                if self.post is None:
                    raise ReportDeliveryError("no https client", uri=uri, permanent=False)
                await self.post(uri, o.report.gzipped)
                o.delivered.append(uri)
                self.db.clear_bounces(uri)
            except Exception as e:
                o.failed[uri] = str(e)
                suppressed = self.db.record_bounce(uri, now=self.now())
                self.log.warning(
                    "tls report post failed",
                    extra={
                        "uri": uri,
                        "policy_domain": o.policy_domain,
                        "err": str(e),
                        "suppressed": suppressed,
                    },
                )
