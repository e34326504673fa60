"""The deliverer's outcome is recorded once, in one place: queue state, TLS
results, the sender's domain-security memory and report bounces."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest
from queue_env import QEnv, TestQueue

from postel.delivery import (
    DeliveryOutcome,
    DeliveryRequest,
    DomainSecurity,
    RecipientOutcome,
    TLSAttempt,
)
from postel.mtastsdb.model import no_policy_result
from postel.queue.recorder import AttemptRecord, OutcomeRecorder
from postel.tlsrptresultdb import AttemptResults, ResultDB


@dataclass
class OutcomeDeliverer:
    """Returns a fixed kind of outcome: delivered or deferred, with one TLS
    success for the domain and what the session showed of it."""

    status: str = "delivered"
    requests: list[DeliveryRequest] = field(default_factory=list)

    async def deliver(self, req: DeliveryRequest) -> DeliveryOutcome:
        self.requests.append(req)
        result = no_policy_result(req.domain)
        result.summary.total_successful_session_count = 1
        code, enhanced = (250, "2.0.0") if self.status == "delivered" else (451, "4.4.1")
        return DeliveryOutcome(
            tuple(
                RecipientOutcome(r, self.status, code, enhanced, "x", f"mx.{req.domain}")  # type: ignore[arg-type]
                for r in req.rcpts
            ),
            tls_reports=(TLSAttempt(AttemptResults(req.domain, result), True),),
            learned=(DomainSecurity(req.sender_account or "", req.domain, True, False),),
        )


@pytest.fixture
def resultdb(qenv: QEnv) -> ResultDB:
    db = ResultDB.open(qenv.cfg.datadir.tlsrptresult_db)
    yield db  # type: ignore[misc]
    db.close()


def successes(db: ResultDB, domain: str) -> int:
    return sum(
        p.summary.total_successful_session_count
        for r in db.rows()
        if r.policy_domain == domain
        for p in r.results
    )


async def run(qenv: QEnv, resultdb: ResultDB, deliverer: OutcomeDeliverer) -> TestQueue:
    q = qenv.queue(deliverer=deliverer, resultdb=resultdb)
    await q.add(
        "alice", "alice@example.org", ["a@remote.test", "b@remote.test"], qenv.message_file()
    )
    await q.run_due()
    return q


async def test_delivered_outcome_recorded_once(
    qenv: QEnv, resultdb: ResultDB, monkeypatch: pytest.MonkeyPatch
) -> None:
    acc = qenv.store.account("alice")
    remembered: list[tuple[str, bool | None, bool | None, int]] = []
    real = acc.remember_domain_securities

    def spy(findings: Iterable[tuple[str, bool | None, bool | None]]) -> None:
        findings = list(findings)
        remembered.extend((*f, threading.get_ident()) for f in findings)
        real(findings)

    monkeypatch.setattr(acc, "remember_domain_securities", spy)
    monkeypatch.setattr(qenv.store, "account", lambda name: acc)
    deliverer = OutcomeDeliverer()
    q = await run(qenv, resultdb, deliverer)
    assert len(deliverer.requests) == 1  # both recipients in one attempt
    assert q.db.entries() == [] and qenv.queue_files() == []
    assert successes(resultdb, "remote.test") == 1
    assert [r[:3] for r in remembered] == [("remote.test", True, False)]
    assert remembered[0][3] != threading.get_ident()  # written off the event loop
    assert q.recorder.writes == 1


async def test_deferred_outcome_recorded_once(qenv: QEnv, resultdb: ResultDB) -> None:
    q = await run(qenv, resultdb, OutcomeDeliverer(status="temporary"))
    entries = q.db.entries()
    assert [(e.attempts, e.last_code, e.last_enhanced) for e in entries] == [(1, 451, "4.4.1")] * 2
    assert all(e.next_attempt > qenv.clock.t for e in entries)
    assert successes(resultdb, "remote.test") == 1
    # Claims end with the recorded outcome: due again later, the entries are tried.
    qenv.clock.advance(dt.timedelta(days=1))
    await q.run_due()
    assert successes(resultdb, "remote.test") == 2


async def test_domain_security_of_one_write_is_one_store_transaction(
    qenv: QEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attempts to many domains recorded together: the sender account's
    findings share one store transaction per recorder write, not one each."""
    acc = qenv.store.account("alice")
    transactions: list[int] = []
    real = acc._write

    def counting() -> Any:
        transactions.append(1)
        return real()

    monkeypatch.setattr(acc, "_write", counting)
    monkeypatch.setattr(qenv.store, "account", lambda name: acc)
    recorder = OutcomeRecorder(None, None, qenv.store)
    domains = [f"d{i}.test" for i in range(5)]
    await asyncio.gather(
        *(
            recorder.record(
                AttemptRecord(
                    DeliveryOutcome((), learned=(DomainSecurity("alice", d, True, False),))
                )
            )
            for d in domains
        )
    )
    assert recorder.writes < len(domains)  # the group commit joined some
    assert len(transactions) == recorder.writes
    for d in domains:
        found = acc.domain_security(d)
        assert (found.starttls, found.requiretls) == (True, False)
