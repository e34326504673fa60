"""Three `postel serve` nodes on one PostgreSQL store (tests/pgcluster.py),
each with its own data directory and loopback address of the test network:
a message received by SMTP on node A is heard by an IMAP IDLE client on node
B within a second and can be fetched on B and C; a message submitted on A
for another domain leaves the shared queue once, although the queue runners
of all three nodes look for work (to an SMTP sink on loopback, found through
the test network's DNS); the user's junk verdicts given over IMAP on node B
file the next similar message received on node C."""

from __future__ import annotations

import random
import smtplib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pgnodes import DOMAIN, Node, Nodes, login, message, running_nodes, submit
from test_junk_webmail_training import HAM, SPAM, text

from pgcluster import Cluster, pg_cluster, pg_database

__all__ = ["pg_cluster", "pg_database"]

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


@pytest.fixture
def nodes(testnet: Any, tmp_path: Path, pg_cluster: Cluster, pg_database: str) -> Iterator[Nodes]:
    with running_nodes(testnet, tmp_path, pg_cluster, pg_database) as started:
        yield started


def test_idle_on_node_b_hears_mail_received_on_node_a_and_c_fetches_it(nodes: Nodes) -> None:
    a, b, c = nodes.nodes
    idler = login(b, nodes.ca_file)
    heard: list[tuple[bytes, float]] = []
    try:
        assert idler.cmd("s", "SELECT INBOX")[-1].startswith(b"s OK")
        idler.sock.sendall(b"i IDLE\r\n")
        assert idler.line().startswith(b"+")

        def listen() -> None:
            idler.sock.settimeout(20)
            line = idler.line()
            heard.append((line, time.monotonic()))

        listener = threading.Thread(target=listen)
        listener.start()
        with smtplib.SMTP(a.ip, a.smtp, local_hostname="client.example", timeout=20) as s:
            s.sendmail("bob@example.org", [f"alice@{DOMAIN}"], message("to a", f"alice@{DOMAIN}"))
            accepted = time.monotonic()  # the 250 to DATA: stored in PostgreSQL
        listener.join(20)
        assert heard, "IDLE on node B heard nothing"
        line, when = heard[0]
        assert line == b"* 1 EXISTS\r\n"
        elapsed = when - accepted
        assert elapsed < 1.0, f"node B's IDLE heard the delivery after {elapsed:.2f} s"
        idler.sock.sendall(b"DONE\r\n")
        idler.sock.settimeout(10)
        while not (done := idler.line()).startswith(b"i "):
            assert done, "connection closed after DONE"
        assert done.startswith(b"i OK")
    finally:
        idler.close()
    for node in (b, c):
        imap = login(node, nodes.ca_file)
        try:
            assert imap.cmd("s", "SELECT INBOX")[-1].startswith(b"s OK")
            fetched = b"".join(imap.cmd("f", "UID FETCH 1 (BODY.PEEK[])"))
        finally:
            imap.close()
        assert b"Subject: to a" in fetched and b"Hello from a node." in fetched


def test_a_message_queued_on_node_a_is_delivered_once(nodes: Nodes) -> None:
    a = nodes.nodes[0]
    rcpt = f"bob@{nodes.sink_domain}"
    submit(a, nodes.ca_file, rcpt, ["outgoing"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not nodes.sink.inbox():
        time.sleep(0.2)
    assert len(nodes.sink.inbox()) == 1, "the sink got nothing"
    # Every node's runner has had time to look at the queue again.
    time.sleep(3)
    inbox = nodes.sink.inbox()
    assert len(inbox) == 1, f"delivered {len(inbox)} times"
    mail_from, rcpts, data, _ = inbox[0]
    assert (mail_from, rcpts) == (f"alice@{DOMAIN}", [rcpt])
    assert b"Subject: outgoing" in data
    with psycopg.connect(nodes.dsn) as conn:
        left = conn.execute("SELECT count(*) FROM queue_entry").fetchone()
    assert left == (0,)


def _send(node: Node, subject: str, body: str) -> None:
    data = (
        f"From: sender@example.org\r\nTo: alice@{DOMAIN}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{time.time_ns()}@example.org>\r\n\r\n{body}\r\n"
    ).encode()
    with smtplib.SMTP(node.ip, node.smtp, local_hostname="client.example", timeout=20) as s:
        s.sendmail("sender@example.org", [f"alice@{DOMAIN}"], data)


def _where(dsn: str, subject: str) -> str:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT mb.name FROM message m JOIN mailbox mb ON mb.id = m.mailbox_id "
            "WHERE m.subject = %s",
            (subject,),
        ).fetchone()
    assert row is not None, f"no message {subject!r}"
    return str(row[0])


def _trained(dsn: str) -> tuple[int, int]:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT ham_messages, spam_messages FROM junk_account").fetchone()
    return (0, 0) if row is None else (int(row[0]), int(row[1]))


def test_verdicts_given_on_node_b_file_the_next_message_on_node_c(nodes: Nodes) -> None:
    a, b, c = nodes.nodes
    rng = random.Random(25)
    for i in range(12):
        _send(a, f"project {i}", text(rng, HAM))
    for i in range(20):
        _send(a, f"win {i}", text(rng, SPAM))
    assert _where(nodes.dsn, "win 0") == "Inbox"  # not enough training yet
    imap = login(b, nodes.ca_file)
    try:
        assert imap.cmd("s", "SELECT INBOX")[-1].startswith(b"s OK")
        # UIDs in arrival order: the 12 kept first, then the 20 spam.
        stored = imap.cmd("k", "UID STORE 1:12 +FLAGS.SILENT (\\Seen)")
        assert stored[-1].startswith(b"k OK"), stored
        moved = imap.cmd("m", "UID MOVE 13:32 Junk")
        assert moved[-1].startswith(b"m OK"), moved
    finally:
        imap.close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _trained(nodes.dsn) != (12, 20):
        time.sleep(0.2)
    assert _trained(nodes.dsn) == (12, 20)
    # Node C never saw the verdicts but files with them.
    _send(c, "win again", text(rng, SPAM))
    assert _where(nodes.dsn, "win again") == "Junk"
    _send(c, "project again", text(rng, HAM))
    assert _where(nodes.dsn, "project again") == "Inbox"
