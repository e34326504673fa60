"""Delivery of a message received on the incoming port to local accounts.

The message gets Authentication-Results (RFC 8601) and Received (RFC 5321
§4.4) headers, after those claiming our authserv-id are removed (RFC 8601 §5,
postel.auth.arstrip), is written to a temp file and fsynced, delivered to every
recipient's mailbox (hard links, index row committed), and only then is the
250 reply sent (docs/data-safety.md, Durability).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from postel.errors import SMTPReplyError
from postel.junk.rspamdproto import Envelope
from postel.junk.rspamdproto import header_field as rspamd_field
from postel.metrics import record as metrics
from postel.smtp.quota import over_quota_reply
from postel.smtp.reply import Reply
from postel.smtpserver.context import ServerContext
from postel.smtpserver.junkfiling import (
    JUNK_MAILBOX,
    FilingRecorder,
    dnsbl_field,
    file_message,
    filing_key,
    record_dnsbl,
    record_rspamd,
)
from postel.smtpserver.received import ReceivedInfo, protocol_type, received_header
from postel.smtpserver.transaction import SessionInfo, Transaction
from postel.store.bodytext import body_text
from postel.store.errors import OverQuota
from postel.store.routing import ReportKind

if TYPE_CHECKING:
    from postel.auth import AuthResults
    from postel.junk.decide import Filing

log = logging.getLogger("postel.smtpserver")


@dataclass
class Outcome:
    reply: Reply
    final: Path | None = None
    reports: list[tuple[ReportKind, str]] = field(default_factory=list)

    def after(self, ctx: ServerContext) -> None:
        """After the reply: hand reports to the intake, then remove the temp file."""
        if self.final is None:
            return
        final = self.final
        if not self.reports:
            with contextlib.suppress(FileNotFoundError):
                final.unlink()
            return
        ctx.spawn(_intake_all(ctx, final, self.reports))


def fallback_results(mail_from: str, helo: str, reason: str) -> AuthResults:
    """Results recorded when verification failed or timed out: nothing is lost."""
    from postel.auth import AuthResults, DKIMResult, DMARCResult, SPFResult

    domain = mail_from.rpartition("@")[2] if mail_from else helo
    return AuthResults(
        spf=SPFResult("temperror", domain, reason=reason),
        dkim=[DKIMResult("none", reason=reason)],
        dmarc=DMARCResult("temperror", reason=reason),
    )


async def verify(
    ctx: ServerContext, info: SessionInfo, tx: Transaction, message: bytes
) -> AuthResults:
    from postel.auth import verify_message

    mail_from = str(tx.sender) if tx.sender is not None else ""
    try:
        # asyncio.timeout, not wait_for: no task per message (BENCHMARKS.md).
        async with asyncio.timeout(ctx.verify_timeout):
            return await verify_message(
                ctx.resolver,
                ip=info.ip,
                helo=info.helo,
                mail_from=mail_from,
                message=message,
                hostname=ctx.cfg.static.hostname,
            )
    except TimeoutError:
        log.info("message verification timed out")
        return fallback_results(mail_from, info.helo, "verification timed out")
    except Exception as exc:
        log.error("message verification failed", extra={"err": repr(exc)})
        return fallback_results(mail_from, info.helo, "verification failed")


def trace_headers(
    ctx: ServerContext, info: SessionInfo, tx: Transaction, results: AuthResults | None
) -> bytes:
    hostname = ctx.cfg.static.hostname
    rcpt = tx.recipients[0].path() if len(tx.recipients) == 1 else None
    received = received_header(
        ReceivedInfo(
            helo=info.helo,
            ip=info.ip,
            rdns=info.rdns,
            hostname=hostname,
            protocol=protocol_type(
                ehlo=info.ehlo,
                tls=info.tls_version is not None,
                authenticated=info.account is not None,
                smtputf8=tx.params.smtputf8,
            ),
            cid=info.cid,
            recipient=rcpt,
            tls_version=info.tls_version,
            tls_cipher=info.tls_cipher,
            when=datetime.now(UTC),
        )
    )
    out = received
    if results is not None:
        out = (
            results.header(hostname).rstrip("\r\n").replace("\r\n", "\n").replace("\n", "\r\n")
            + "\r\n"
            + out
        )
    return out.encode("utf-8")


def without_own_results(ctx: ServerContext, message: bytes) -> bytes | None:
    """*message* without Authentication-Results fields carrying our authserv-id
    (RFC 8601 §5); None when it has none."""
    from postel.auth.arstrip import strip_own_results

    stripped = strip_own_results(message, ctx.cfg.static.hostname)
    if stripped is None:
        return None
    log.info(
        "removed authentication-results claiming our authserv-id", extra={"count": stripped[1]}
    )
    return stripped[0]


def record_evaluation(
    ctx: ServerContext, info: SessionInfo, tx: Transaction, results: AuthResults, disposition: str
) -> None:
    """Keep the DMARC evaluation for aggregate reports (RFC 7489 §7.2): queued
    for the recorder's thread, so the session does not wait for the write."""
    if ctx.evaluations is None:
        return
    from postel.dmarcevaldb import evaluation_from_results

    try:
        ev = evaluation_from_results(
            results,
            disposition=disposition,
            source_ip=info.ip,
            mail_from=str(tx.sender) if tx.sender is not None else "",
            received=datetime.now(UTC),
            # Reports to our reporting addresses: no reports about report mail alone.
            optional=bool(tx.local) and all(local.report is not None for local in tx.local),
        )
        if ev is not None:
            ctx.evaluations.add(ev)
    except Exception as exc:  # reporting must never fail a delivery
        log.error("cannot record dmarc evaluation", extra={"err": repr(exc)})


def searchable_text(message: bytes) -> str:
    """The body text of *message* (store/bodytext.py); a message it cannot
    parse is still delivered, found by its headers only."""
    try:
        return body_text(message)
    except Exception as exc:
        log.warning("body text not extracted", extra={"err": repr(exc)})
        return ""


def rspamd_envelope(ctx: ServerContext, info: SessionInfo, tx: Transaction) -> Envelope:
    """What rspamd is told about the message besides its content."""
    return Envelope(
        ip=info.ip,
        helo=info.helo,
        hostname=info.rdns,
        mail_from=str(tx.sender) if tx.sender is not None else "",
        rcpts=tuple(str(r) for r in tx.recipients),
        user=info.account,
        queue_id=info.cid,
        mta_name=ctx.cfg.static.hostname,
    )


async def deliver(
    ctx: ServerContext, info: SessionInfo, tx: Transaction, spool: Path, data: bytes | None = None
) -> Outcome:
    """Deliver the message (*data*, or the file *spool* when it is None)."""
    message = data if data is not None else await asyncio.to_thread(spool.read_bytes)
    results = await verify(ctx, info, tx, message)
    metrics.dmarc_evaluation(results.dmarc.result)
    disposition = results.disposition()
    record_evaluation(ctx, info, tx, results, disposition)
    if disposition == "reject":
        log.info("message rejected by dmarc policy", extra={"from": results.dmarc.from_domain})
        return Outcome(
            Reply(550, "5.7.1", f"rejected by the DMARC policy of {results.dmarc.from_domain}")
        )
    final = spool.with_name(spool.name + "-final")
    body: bytes | Path = message if data is not None else spool  # the file: not read twice
    stripped = without_own_results(ctx, message)
    if stripped is not None:
        body = stripped
    headers = trace_headers(ctx, info, tx, results)
    outcome = Outcome(Reply(250, "2.0.0", f"delivered, id {info.cid}"), final=final)
    targets: list[tuple[str, str]] = []
    forward: list[str] = []
    for local in tx.local:
        for account, mailbox in local.deliveries:
            if (account, mailbox) not in targets:
                targets.append((account, mailbox))
        forward.extend(a for a in local.forward if a not in forward)
        if local.report is not None:
            outcome.reports.append((local.report, str(local.address)))
    # The body text, once per message: for the junk filter's features and
    # the store's search index of every recipient account.
    text = searchable_text(body if isinstance(body, bytes) else message) if targets else None
    filings: list[tuple[str, Filing]] = []
    if ctx.junk is not None and targets:
        # The junk filter of each account (postel.junk): Inbox, Junk, Rejects
        # or refused; DMARC quarantine, DNSBLs and rspamd are among its signals.
        listed, checked = await ctx.junk.lookups(message, rspamd_envelope(ctx, info, tx))
        record_dnsbl(ctx.junk.settings.dnsbl_zones, listed)
        record_rspamd(ctx.junk.settings.rspamd is not None, checked)
        headers = rspamd_field(checked) + dnsbl_field(listed) + headers
        try:
            filed = await file_message(
                ctx.junk, targets, message, results, info.ip,
                dmarc_quarantine=disposition == "junk", listed=listed, checked=checked,
                text=text,
            )  # fmt: skip
        except Exception as exc:
            # The filter's data cannot be read (on PostgreSQL: the database
            # gone): the message is not filed by it; storing it answers 4xx if
            # the store is gone too, else it goes where it would without it.
            log.warning("junk filing failed", extra={"err": repr(exc)})
        else:
            if filed.refused is not None and not forward:
                return Outcome(filed.refused)
            targets, filings = filed.targets, filed.filings
    elif disposition == "junk":
        targets = list(dict.fromkeys((a, JUNK_MAILBOX) for a, _m in targets))
    key = filing_key(headers, body if isinstance(body, bytes) else message) if filings else ""
    del message
    accounts = [account for account, _ in targets]
    if any(ctx.store.quota_of(account) for account in accounts):
        # Quotas (postel.smtp.quota): a message one account has no room for is
        # refused for all, as one reply after DATA answers every recipient.
        size = len(headers) + (len(body) if isinstance(body, bytes) else body.stat().st_size)
        over = await asyncio.to_thread(ctx.store.check_quota, accounts, size)
        if over is not None:
            log.info("message over quota", extra={"account": over.account, "size": size})
            return Outcome(over_quota_reply(over))
    # Writing the file and storing it: one job for the store's delivery path,
    # which stores the waiting messages of all sessions in one transaction.
    delivered, error = await ctx.store.write_and_deliver(
        targets, final, headers, body, requiretls=tx.params.requiretls, text=text
    )
    for account, msg in delivered:
        log.info(
            "delivered", extra={"account": account, "mailbox": msg.mailbox, "msgid": msg.msgid}
        )
    if filings and ctx.junk is not None and error is None:
        if ctx.junk_recorder is None:
            ctx.junk_recorder = FilingRecorder(ctx.junk, ctx.spawn)
        ctx.junk_recorder.add(key, filings)
    if isinstance(error, OverQuota) and not delivered:  # filled up since the check
        log.info("message over quota", extra={"account": error.account, "size": error.size})
        return Outcome(over_quota_reply(error))
    if error is not None:
        log.error("delivery to account failed", extra={"err": repr(error)})
        outcome.reply = Reply(451, "4.3.0", f"temporary failure storing message, id {info.cid}")
        outcome.reports = []
        return outcome
    if forward:
        sender = str(tx.sender) if tx.sender is not None else ""
        try:
            await ctx.submitter("", sender, forward, final, tx.params.requiretls)
        except SMTPReplyError as exc:
            log.error("forwarding failed", extra={"err": str(exc), "rcpts": forward})
            if not targets:
                outcome.reply = Reply(exc.code, exc.enhanced, exc.text)
        except Exception as exc:
            log.error("forwarding failed", extra={"err": repr(exc), "rcpts": forward})
            if not targets:
                outcome.reply = Reply(451, "4.3.0", f"temporary failure, id {info.cid}")
    return outcome


async def _intake_all(
    ctx: ServerContext, final: Path, reports: list[tuple[ReportKind, str]]
) -> None:
    try:
        for kind, rcpt in reports:
            await run_intake(ctx, kind, final, rcpt)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(final)


async def run_intake(ctx: ServerContext, kind: ReportKind, path: Path, rcpt: str) -> None:
    """Hand a delivered report message to postel.reportintake.

    Every error is logged and swallowed: the delivery has already happened.
    """
    from postel.pg.target import pg_target
    from postel.reportintake import intake

    try:
        pg = pg_target(ctx.cfg)  # on PostgreSQL: the tables the nodes share
        if pg is None:
            await intake(ctx.cfg.datadir, kind, path, rcpt)
        else:
            await intake(ctx.cfg.datadir, kind, path, rcpt, pg=pg)
    except Exception as exc:
        log.error("report intake failed", extra={"err": repr(exc), "kind": kind, "rcpt": rcpt})
