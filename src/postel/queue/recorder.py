"""The one place where delivery attempts' outcomes are written.

Per attempt: the queue entries' new state, the TLS results for RFC 8460
reports, what the sender's account learned of the domain's security, and
report addresses that bounced. Written in a worker thread, off the event
loop, through the connections the process opened once (the entry store, the
TLS results); attempts finishing while a write runs share the next write
(postel.groupcommit).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from postel.delivery.request import DeliveryOutcome, DomainSecurity
from postel.groupcommit import GroupCommit
from postel.queue.entries import Deferral, QueueEntries
from postel.store.api import Accounts
from postel.suppressions import Suppressions
from postel.tlsrptresultdb.api import TLSResults

log = logging.getLogger("postel.queue")

REMEMBER_AGAIN = 600.0  # seconds: an unchanged domain-security finding is written again
REMEMBER_MAX = 10000  # (account, domain) pairs kept to skip equal writes


@dataclass(frozen=True)
class AttemptRecord:
    """One attempt's outcome and what it means for its queue entries."""

    outcome: DeliveryOutcome
    done: Sequence[int] = ()
    deferred: Sequence[Deferral] = ()
    tlsrpt_bounces: Sequence[str] = ()
    dmarc_bounces: Sequence[str] = ()


@dataclass
class _Batch:
    done: list[int] = field(default_factory=list)
    deferred: list[Deferral] = field(default_factory=list)


class OutcomeRecorder:
    """Records attempts (:meth:`record`); *entries* None: no queue state (tools
    and tests that deliver without a queue), *resultdb* None: no TLS results."""

    def __init__(
        self,
        entries: QueueEntries | None,
        resultdb: TLSResults | None,
        store: Accounts | None,
        *,
        dmarc_bounce: DMARCBounce | None = None,
    ) -> None:
        self.entries = entries
        self.resultdb = resultdb
        self.store = store
        self.dmarc_bounce = dmarc_bounce
        self._commit = GroupCommit[AttemptRecord](self._write)
        # (account, domain) -> (starttls, requiretls, when written); used only
        # by the writing thread (one write at a time).
        self._remembered: dict[tuple[str, str], tuple[bool, bool, float]] = {}

    async def record(self, item: AttemptRecord) -> None:
        """Write *item*; returns once it is durable. Raises when the queue state
        could not be written (the entries stay as they were: tried again)."""
        await self._commit([item])

    async def wait_idle(self) -> None:
        await self._commit.wait_idle()

    @property
    def writes(self) -> int:
        """Write calls made (tests, benchmarks)."""
        return self._commit.calls

    # -- in the worker thread ---------------------------------------------

    def _write(self, items: list[AttemptRecord]) -> None:
        self._write_tls(items)
        self._remember([fact for item in items for fact in item.outcome.learned])
        for item in items:
            for rcpt in item.tlsrpt_bounces:
                self._tlsrpt_bounce(rcpt)
            for rcpt in item.dmarc_bounces:
                self._dmarc_bounce(rcpt)
        if self.entries is not None:
            batch = _Batch()
            for item in items:
                batch.done.extend(item.done)
                batch.deferred.extend(item.deferred)
            if batch.done or batch.deferred:
                self.entries.finish(batch.done, batch.deferred)

    def _write_tls(self, items: list[AttemptRecord]) -> None:
        if self.resultdb is None:
            return
        attempts = [(t.results, t.send_report) for i in items for t in i.outcome.tls_reports]
        if not attempts:
            return
        try:
            self.resultdb.add_attempts(attempts)
        except Exception:
            # Reporting must never fail a delivery.
            log.exception("recording TLS results failed", extra={"count": len(attempts)})

    def _remember(self, facts: list[DomainSecurity]) -> None:
        """The sender accounts remember STARTTLS/REQUIRETLS support
        (docs/delivery-policy.md, After the session): an unchanged finding at
        most every 10 minutes, the findings of one write in one transaction
        per account."""
        if self.store is None:
            return
        now = time.monotonic()
        per_account: dict[str, dict[str, DomainSecurity]] = {}
        for fact in facts:
            key = (fact.account, fact.domain)
            last = self._remembered.get(key)
            if (
                last is not None
                and last[:2] == (fact.starttls, fact.requiretls)
                and now - last[2] < REMEMBER_AGAIN
            ):
                continue
            if len(self._remembered) >= REMEMBER_MAX:
                self._remembered.clear()  # bounded memory; costs one write per key
            self._remembered[key] = (fact.starttls, fact.requiretls, now)
            per_account.setdefault(fact.account, {})[fact.domain] = fact  # the last one wins
        for account, found in per_account.items():
            try:
                self.store.account(account).remember_domain_securities(
                    [(f.domain, f.starttls, f.requiretls) for f in found.values()]
                )
            except Exception:
                for domain in found:
                    self._remembered.pop((account, domain), None)
                log.exception(
                    "remembering domain security failed",
                    extra={"account": account, "domains": len(found)},
                )

    def _tlsrpt_bounce(self, rcpt: str) -> None:
        if self.resultdb is None:
            return
        try:
            if self.resultdb.record_bounce(rcpt):
                log.warning("tls report address suppressed after bounces", extra={"rcpt": rcpt})
        except Exception as exc:
            log.exception("cannot record report bounce", extra={"rcpt": rcpt, "err": repr(exc)})

    def _dmarc_bounce(self, rcpt: str) -> None:
        if self.dmarc_bounce is None:
            return
        try:
            if self.dmarc_bounce(rcpt):
                log.warning("dmarc report address suppressed after bounces", extra={"rcpt": rcpt})
        except Exception as exc:
            log.exception("cannot record report bounce", extra={"rcpt": rcpt, "err": repr(exc)})


class DMARCBounce:
    """Counts a bounced DMARC report address in dmarceval.db (suppressed at
    the threshold); True when the address became suppressed. The database is
    opened for each bounce: rare, and owned by the DMARC report sender. On
    PostgreSQL the list shared by the nodes (*shared*) counts instead."""

    def __init__(self, path: Path, *, shared: Suppressions | None = None) -> None:
        self.path = path
        self.shared = shared

    def __call__(self, rcpt: str) -> bool:
        if self.shared is not None:
            return self.shared.record_bounce(rcpt)
        from postel.dmarcevaldb import EvalDB

        with EvalDB.open(self.path) as db:
            return bool(db.record_bounce(rcpt))
