"""Daily reports sent by exactly one node (postel.pg.dailyrun): three nodes'
senders due at once over one PostgreSQL store, each with a pool of its own;
every report reaches a receiver on loopback once, and a node getting the
day's turn later sends nothing again."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from pghelpers import run_at_once

from pgcluster import Cluster
from postel.dmarcevaldb import DKIMEval, Evaluation, SPFEval
from postel.dmarcsend import ReportSender as DMARCSender
from postel.dmarcsend import Settings as DMARCSettings
from postel.dns.mock import MockResolver
from postel.pg.reportparts import PgReports
from postel.tlsrpt.report import Policy, PolicyDetails, PolicyType, Summary
from postel.tlsrptresultdb import AttemptResults
from postel.tlsrptsend import ReportSender as TLSSender
from postel.tlsrptsend import Settings as TLSSettings
from reportbackends import migrated, pg_node

pytestmark = pytest.mark.timeout(120)

DOMAINS = ["a.test", "b.test", "c.test"]
DURING = dt.datetime(2026, 3, 14, 12, 0, tzinfo=dt.UTC)
NEXT_RUN = dt.datetime(2026, 3, 15, 0, 5, tzinfo=dt.UTC)
LATER_THAT_DAY = dt.datetime(2026, 3, 15, 9, 0, tzinfo=dt.UTC)
NODES = 3


class Receiver:
    """A loopback TCP server taking one report per connection: a line naming
    the recipient, then the report's bytes until the sender closes."""

    def __init__(self) -> None:
        self.got: list[tuple[str, int]] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._take, "127.0.0.1", 0), self._loop
        ).result(10)
        self.port: int = self._server.sockets[0].getsockname()[1]

    async def _take(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        rcpt = (await reader.readline()).decode().strip()
        body = await asyncio.wait_for(reader.read(), 10)
        with self._lock:
            self.got.append((rcpt, len(body)))
        writer.close()

    def close(self) -> None:
        async def stop() -> None:
            self._server.close()
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


async def deliver(port: int, rcpt: str, body: bytes) -> None:
    """Hand one report to the loopback receiver (in place of the queue / POST)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
    writer.write(rcpt.encode() + b"\n" + body)
    writer.write_eof()
    await writer.drain()
    # The receiver closes once it has recorded the report: handed over.
    await asyncio.wait_for(reader.read(), 10)
    writer.close()
    await writer.wait_closed()


@dataclass
class Nodes:
    settings: Any
    receiver: Receiver
    nodes: list[PgReports] = field(default_factory=list)

    def node(self, name: str) -> PgReports:
        n = pg_node(self.settings, name)
        self.nodes.append(n)
        return n


@pytest.fixture
def nodes(pg_cluster: Cluster, pg_database: str) -> Iterator[Nodes]:
    receiver = Receiver()
    found = Nodes(migrated(pg_cluster, pg_database), receiver)
    try:
        yield found
    finally:
        for n in found.nodes:
            n.close()
        receiver.close()


def failing_sts(domain: str) -> Policy:
    return Policy(
        PolicyDetails(
            PolicyType.STS, ["version: STSv1", "mode: enforce"], domain, [f"mx.{domain}"]
        ),
        Summary(1, 2),
    )


def tls_sender(node: PgReports, port: int, now: dt.datetime) -> TLSSender:
    records = {
        (f"_smtp._tls.{d}", "TXT"): [f'"v=TLSRPTv1; rua=https://reports.{d}/tlsrpt"']
        for d in DOMAINS
    }

    async def post(uri: str, body: bytes) -> None:
        await deliver(port, uri, body)

    return TLSSender(
        node.results,
        MockResolver(dict(records)),
        TLSSettings("mail.receiver.test", ["receiver.test"]),
        signer_for=lambda d: None,
        enqueue=None,
        post=post,
        now=lambda: now,
        spread=False,
        runs=node.runs,
    )


def evaluation(domain: str) -> Evaluation:
    return Evaluation(
        received=DURING,
        policy_domain=domain,
        header_from=domain,
        source_ip="192.0.2.1",
        p="reject",
        sp=None,
        adkim="r",
        aspf="r",
        pct=100,
        testing=False,
        disposition="none",
        dkim_aligned="pass",
        spf_aligned="pass",
        envelope_from=domain,
        dkim=[DKIMEval(domain, "s1", "pass")],
        spf=SPFEval(domain, "mfrom", "pass"),
    )


def dmarc_sender(node: PgReports, port: int, now: dt.datetime) -> DMARCSender:
    records = {
        (f"_dmarc.{d}", "TXT"): [f'"v=DMARC1; p=reject; rua=mailto:agg@{d}"'] for d in DOMAINS
    }

    async def enqueue(mail_from: str, rcpt: str, message: bytes) -> None:
        await deliver(port, f"mailto:{rcpt}", message)

    return DMARCSender(
        node.evaluations,
        MockResolver(dict(records)),
        DMARCSettings("mail.receiver.test", ["receiver.test"]),
        signer_for=lambda d: None,
        enqueue=enqueue,
        now=lambda: now,
        runs=node.runs,
    )


def add_data(kind: str, node: PgReports) -> None:
    """A day of data recorded by one node, every domain wanting a report."""
    if kind == "tls":
        node.results.add_attempts(
            [(AttemptResults(d, failing_sts(d)), True) for d in DOMAINS], now=DURING
        )
    else:
        node.evaluations.add([evaluation(d) for d in DOMAINS])


EXPECTED = {
    "tls": sorted(f"https://reports.{d}/tlsrpt" for d in DOMAINS),
    "dmarc": sorted(f"mailto:agg@{d}" for d in DOMAINS),
}


@pytest.mark.parametrize("kind", ["tls", "dmarc"])
def test_three_nodes_due_at_once_send_each_report_once(
    nodes: Nodes, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    make = tls_sender if kind == "tls" else dmarc_sender
    members = [nodes.node(f"node{i}") for i in range(NODES)]
    add_data(kind, members[1])
    senders = [make(m, nodes.receiver.port, NEXT_RUN) for m in members]
    with caplog.at_level(logging.DEBUG, logger="postel"):
        outcomes = run_at_once([s.run for s in senders])
    # One node ran the day's reports; the others skipped the run.
    ran = [o for o in outcomes if o]
    assert len(ran) == 1
    assert sorted(o.status for o in ran[0]) == ["sent"] * len(DOMAINS)
    assert sorted(rcpt for rcpt, _n in nodes.receiver.got) == EXPECTED[kind]
    assert all(size > 0 for _r, size in nodes.receiver.got)
    skipped = [
        r for r in caplog.records if r.getMessage() == f"{kind} report run left to another node"
    ]
    assert len(skipped) == NODES - 1 and all(r.levelno == logging.DEBUG for r in skipped)
    # A node whose daily loop fires later the same day (or that starts then)
    # finds the day's run done, also with new data waiting.
    add_data(kind, members[2])
    late = make(nodes.node("late"), nodes.receiver.port, LATER_THAT_DAY)
    assert asyncio.run(late.run()) == []
    assert len(nodes.receiver.got) == len(DOMAINS)
    with members[0].pool.connection() as conn:
        rows = conn.execute("SELECT kind, day FROM report_run").fetchall()
    assert rows == [(kind, NEXT_RUN.date())]


def test_a_failed_run_leaves_the_day_to_the_next_node(nodes: Nodes) -> None:
    a, b = nodes.node("a").runs, nodes.node("b").runs
    day = NEXT_RUN.date()
    with a.claim("tls", day) as mine:
        assert mine
        with b.claim("tls", day) as theirs:
            assert not theirs  # a holds the lock
        with b.claim("dmarc", day) as other_kind:
            assert other_kind  # one lock per kind
    with pytest.raises(RuntimeError), a.claim("tls", day + dt.timedelta(days=1)) as mine:
        assert mine
        raise RuntimeError("the run broke off")
    # Day done: nobody again; the failed day and the lock are free for b.
    with b.claim("tls", day) as again:
        assert not again
    with b.claim("tls", day + dt.timedelta(days=1)) as takeover:
        assert takeover
