"""The daily digest of received reports' findings on nodes sharing
PostgreSQL: each node reads the reports any node received, and one node
sends each day's digest (postel.pg.dailyrun, kind "digest")."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pghelpers import run_at_once

from pgcluster import Cluster
from postel.pg.receivedparts import PgReceived, open_received
from postel.pg.reportparts import PgReports
from postel.pg.settings import PgSettings
from postel.receivedreports import ReceivedReports
from postel.reportfindings import OwnNames, Settings
from postel.reportfindings.findings import Findings
from postel.reportfindings.service import DigestSender
from postel.tlsrpt import parse_report as parse_tlsrpt
from reportbackends import migrated, pg_node

pytestmark = pytest.mark.timeout(120)

NOW = dt.datetime(2026, 12, 6, 0, 5, tzinfo=dt.UTC)
LATER_THAT_DAY = dt.datetime(2026, 12, 6, 9, 0, tzinfo=dt.UTC)
NODES = 3

SETTINGS = Settings(
    ours=OwnNames.of(["example.org"], ["mail.example.org."]),
    known=(),
    hostname="mail.example.org",
    digest_to="",
    postmaster_account="alice",
    postmaster_mailbox="Postmaster",
    sender_localpart="postmaster",
)


@dataclass
class Node:
    received: PgReceived
    reports: PgReports
    home: Path


@dataclass
class Cluster3:
    settings: PgSettings
    root: Path
    nodes: list[Node] = field(default_factory=list)
    sent: list[bytes] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def node(self, name: str) -> Node:
        home = self.root / name
        home.mkdir()
        n = Node(open_received(self.settings), pg_node(self.settings, name), home)
        self.nodes.append(n)
        return n

    def sender(self, node: Node, now: dt.datetime) -> DigestSender:
        async def deliver(rcpt: str, message: bytes) -> None:
            assert rcpt == ""
            await asyncio.sleep(0.2)  # the run holds its turn meanwhile
            with self.lock:
                self.sent.append(message)

        return DigestSender(
            SETTINGS,
            node.home / "tlsrpt.db",
            node.home / "dmarcrpt.db",
            node.home / "findings-digest.day",
            deliver,
            now=lambda: now,
            received=ReceivedReports(node.received.tls, node.received.dmarc),
            runs=node.reports.runs,
        )


@pytest.fixture
def cluster3(pg_cluster: Cluster, pg_database: str, tmp_path: Path) -> Iterator[Cluster3]:
    found = Cluster3(migrated(pg_cluster, pg_database), tmp_path)
    try:
        yield found
    finally:
        for n in found.nodes:
            n.received.close()
            n.reports.close()


def failing_tls_report(node: Node, rid: str) -> None:
    """A TLS report received yesterday through *node*: 4 sessions failed on
    the DANE policy of our MX."""
    raw = {
        "organization-name": "Reporter",
        "date-range": {
            "start-datetime": "2026-12-04T00:00:00Z",
            "end-datetime": "2026-12-04T23:59:59Z",
        },
        "contact-info": "tls@reporter.example",
        "report-id": rid,
        "policies": [
            {
                "policy": {"policy-type": "tlsa", "policy-domain": "mail.example.org"},
                "summary": {
                    "total-successful-session-count": 1,
                    "total-failure-session-count": 4,
                },
                "failure-details": [{"result-type": "dane-required", "failed-session-count": 4}],
            }
        ],
    }
    report = parse_tlsrpt(json.dumps(raw).encode()).report
    node.received.tls.add(report, kind="host", received=NOW - dt.timedelta(hours=12))


def test_nodes_due_at_once_send_one_digest_of_the_shared_reports(
    cluster3: Cluster3, caplog: pytest.LogCaptureFixture
) -> None:
    members = [cluster3.node(f"node{i}") for i in range(NODES)]
    failing_tls_report(members[1], "r1")
    senders = [cluster3.sender(m, NOW) for m in members]
    with caplog.at_level(logging.DEBUG, logger="postel"):
        outcomes = run_at_once([s.run for s in senders])
    # One node sent the day's digest, of the report another node received.
    ran = [o for o in outcomes if o is not None]
    assert len(ran) == 1
    found: Findings = ran[0]
    assert len(found.tls) == 1
    [message] = cluster3.sent
    assert b"4 failed session(s) on the tlsa policy of mail.example.org" in message
    skipped = [
        r for r in caplog.records if r.getMessage() == "findings digest left to another node"
    ]
    assert len(skipped) == NODES - 1 and all(r.levelno == logging.DEBUG for r in skipped)
    # A node whose loop fires later that day (or that starts then) finds the
    # day's digest sent, also with a new report waiting.
    failing_tls_report(members[2], "r2")
    late = cluster3.sender(cluster3.node("late"), LATER_THAT_DAY)
    assert asyncio.run(late.run()) is None
    assert len(cluster3.sent) == 1
    with members[0].reports.pool.connection() as conn:
        rows = conn.execute("SELECT kind, day FROM report_run").fetchall()
    assert rows == [("digest", NOW.date())]
    # The nodes' own report files were never opened.
    for n in cluster3.nodes:
        assert not (n.home / "tlsrpt.db").exists() and not (n.home / "dmarcrpt.db").exists()


def test_a_failed_digest_leaves_the_day_to_the_next_node(cluster3: Cluster3) -> None:
    a, b = cluster3.node("a"), cluster3.node("b")
    failing_tls_report(a, "r1")

    async def broken(rcpt: str, message: bytes) -> None:
        raise OSError("postmaster mailbox unavailable")

    failing = cluster3.sender(a, NOW)
    failing.deliver = broken
    with pytest.raises(OSError):
        asyncio.run(failing.run())
    found = asyncio.run(cluster3.sender(b, NOW).run())
    assert found is not None and len(found.tls) == 1
    assert len(cluster3.sent) == 1
