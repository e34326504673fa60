"""The junk filter's part in delivering a message received on the incoming
port (postel.junk): per account, Inbox, Junk, Rejects or a refusal; the DNSBL
results and rspamd's verdict in header fields of the message, once for all its
recipients."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from postel.metrics import record as metrics
from postel.smtp.reply import Reply

if TYPE_CHECKING:
    from postel.auth import AuthResults
    from postel.junk.decide import Filing
    from postel.junk.dnsbl import Result
    from postel.junk.filter import JunkFilter
    from postel.junk.rspamdproto import Answer

log = logging.getLogger("postel.smtpserver")

INBOX = "Inbox"
JUNK_MAILBOX = "Junk"
REJECTS_MAILBOX = "Rejects"
DNSBL_FIELD = "X-Postel-DNSBL"
# Seconds the filings of delivered messages are gathered before they are
# written (FilingRecorder): one transaction and one thread hop for all the
# messages of that moment instead of one each, at the price of a record that
# shows up this much later (bench/NOTES.md, junk filter, sixth round).
RECORD_GATHER = 0.1


@dataclass
class Filed:
    targets: list[tuple[str, str]]  # (account, mailbox) to store into
    filings: list[tuple[str, Filing]] = field(default_factory=list)  # to record per account
    refused: Reply | None = None  # every recipient's filter refused the message


def record_dnsbl(zones: tuple[str, ...], result: Result | None) -> None:
    """The DNSBL lookups of one message, in the metrics."""
    if result is None:
        return
    listed = {x.zone for x in result.listed}
    failed = {e.split(":", 1)[0] for e in result.errors}
    for zone in zones:
        outcome = "listed" if zone in listed else "error" if zone in failed else "clear"
        metrics.dnsbl_lookup(zone, outcome)


def record_rspamd(asked: bool, answer: Answer | None) -> None:
    """rspamd's verdict on one message, in the metrics (when it was asked)."""
    if asked:
        metrics.rspamd_check("error" if answer is None else answer.action.replace(" ", "_"))


def dnsbl_field(result: Result | None) -> bytes:
    """``X-Postel-DNSBL: <zone>=<codes> "<reason>"; ...`` for the zones listing
    the sender, empty when none did."""
    if result is None or not result.listed:
        return b""
    parts = []
    for x in result.listed:
        reason = "".join(c if c.isprintable() and c not in '"\\' else " " for c in x.reason)
        parts.append(f"{x.zone}={','.join(x.codes)}" + (f' "{reason[:200]}"' if reason else ""))
    return f"{DNSBL_FIELD}: {'; '.join(parts)}\r\n".encode()


async def file_message(
    junk: JunkFilter,
    targets: list[tuple[str, str]],
    message: bytes,
    results: AuthResults,
    ip: str,
    *,
    dmarc_quarantine: bool,
    listed: Result | None,
    checked: Answer | None = None,
    text: str | None = None,
) -> Filed:
    """Where the message goes for each (account, mailbox) of *targets*: only
    mail routed to an account's Inbox is filed by its filter (addresses routed
    to another mailbox, report addresses, stay as they are). *text*: the
    message's body text (store/bodytext.py), when the caller has it; the
    features are computed once for all the accounts."""
    from postel.junk.filter import Prepared
    from postel.junk.verified import from_results

    verified = from_results(results, ip)
    prepared = Prepared(message, text)
    out = Filed([])
    refusals: list[tuple[str, Filing]] = []
    for account, mailbox in targets:
        if mailbox != INBOX:
            box = JUNK_MAILBOX if dmarc_quarantine else mailbox  # as without the filter
            if (account, box) not in out.targets:
                out.targets.append((account, box))
            continue
        filing = await junk.file(
            account, prepared, verified, dmarc_quarantine=dmarc_quarantine, listed=listed,
            lookup=False, checked=checked,
        )  # fmt: skip
        out.filings.append((account, filing))
        metrics.junk_filing(filing.target)
        log.info(
            "junk filter",
            extra={"account": account, "target": filing.target, "score": filing.score,
                   "reasons": "; ".join(filing.reasons)},
        )  # fmt: skip
        if filing.target == "refuse":
            refusals.append((account, filing))
            continue
        box = {"inbox": mailbox, "junk": JUNK_MAILBOX, "rejects": REJECTS_MAILBOX}[filing.target]
        if (account, box) not in out.targets:
            out.targets.append((account, box))
    if refusals and not out.targets:
        first = refusals[0][1]
        reason = first.reasons[0] if first.reasons else "junk"
        out.refused = Reply(554, "5.7.1", f"message refused as junk ({reason})")
    elif refusals:
        # Other recipients take it: one reply for all (RFC 5321 §4.2.5), so
        # nothing is refused and the refusing accounts keep it in Rejects.
        for account, _ in refusals:
            if (account, REJECTS_MAILBOX) not in out.targets:
                out.targets.append((account, REJECTS_MAILBOX))
    return out


def filing_key(headers: bytes, body: bytes) -> str:
    """The key of the stored message (postel.junk.filter.message_key of its bytes)."""
    h = hashlib.sha256(headers)
    h.update(body)
    return h.hexdigest()


def record_batch(junk: JunkFilter, batch: list[tuple[str, str, Filing]]) -> None:
    """The (account, key, filing) of several messages, one transaction per
    account (blocking). Failures are logged, the deliveries stand."""
    now = datetime.now(UTC)
    by_account: dict[str, list[tuple[str, Filing]]] = {}
    for account, key, filing in batch:
        by_account.setdefault(account, []).append((key, filing))
    for account, filings in by_account.items():
        try:
            junk.record_many(account, filings, now)
        except Exception as exc:
            log.error("cannot record junk filing", extra={"account": account, "err": repr(exc)})


class FilingRecorder:
    """Records the filings of delivered messages after their 250, batched:
    the filings that arrive within *gather* seconds of the first, or while
    one batch commits, go in one batch, so a busy account's junk.db commits
    once per batch, not once per message, and the filter's lock is held that
    much less."""

    def __init__(
        self,
        junk: JunkFilter,
        spawn: Callable[[Coroutine[Any, Any, None]], None],
        gather: float = RECORD_GATHER,
    ):
        self.junk = junk
        self._spawn = spawn
        self._gather = gather
        self._pending: list[tuple[str, str, Filing]] = []
        self._running = False

    def add(self, key: str, filings: list[tuple[str, Filing]]) -> None:
        self._pending.extend((account, key, filing) for account, filing in filings)
        if not self._running:
            self._running = True
            self._spawn(self._drain())

    async def _drain(self) -> None:
        try:
            if self._gather > 0:
                await asyncio.sleep(self._gather)  # the server's stop waits for it
            while self._pending:
                batch, self._pending = self._pending, []
                await asyncio.to_thread(record_batch, self.junk, batch)
        finally:
            self._running = False
