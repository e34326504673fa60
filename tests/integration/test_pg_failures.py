"""Three `postel serve` nodes on one PostgreSQL (tests/integration/pgnodes.py)
when a node or the database fails: a node killed (kill -9) under inbound and
outbound load, PostgreSQL stopped and started again under load, a node
stopped (SIGSTOP) past its queue lease, and a delivery attempt that lasts
longer than the lease. docs/postgresql.md, "When a node or the database
fails", says what these tests hold postel to."""

from __future__ import annotations

import os
import re
import signal
import smtplib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pgnodes import (
    DOMAIN,
    IMAP,
    PASSWORD,
    Node,
    Nodes,
    imap_context,
    login,
    message,
    running_nodes,
    submit,
)

from pgcluster import Cluster, pg_cluster, pg_database

__all__ = ["pg_cluster", "pg_database"]

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

LEASE = 5  # seconds: [storage] queue_lease of the nodes here


@pytest.fixture
def nodes(testnet: Any, tmp_path: Path, pg_cluster: Cluster, pg_database: str) -> Iterator[Nodes]:
    with running_nodes(testnet, tmp_path, pg_cluster, pg_database, queue_lease=LEASE) as started:
        yield started


def _wait(what: str, check: Callable[[], bool], timeout: float, step: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not after {timeout} s")
        time.sleep(step)


def _query(dsn: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql).fetchall()  # type: ignore[arg-type]


def _claims(dsn: str) -> dict[str, int]:
    """Node id -> entries it holds under a lease that has not ended."""
    rows = _query(
        dsn,
        "SELECT claimed_by, count(*) FROM queue_entry"
        " WHERE lease_until > clock_timestamp() GROUP BY claimed_by",
    )
    return {str(r[0]): int(r[1]) for r in rows}


def _queued(dsn: str) -> int:
    return int(_query(dsn, "SELECT count(*) FROM queue_entry")[0][0])


def _subjects(data: bytes) -> str:
    found = re.search(rb"^Subject: (.*?)\r?$", data, re.M)
    assert found is not None, data[:200]
    return found.group(1).decode()


def _inbox_subjects(node: Node, nodes: Nodes) -> list[str]:
    imap = login(node, nodes.ca_file)
    try:
        assert imap.cmd("s", "SELECT INBOX")[-1].startswith(b"s OK")
        lines = imap.cmd("f", "UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    finally:
        imap.close()
    return [m.group(1).decode() for m in re.finditer(rb"Subject: (\S+)", b"".join(lines))]


def _tracebacks(nodes: Nodes) -> list[str]:
    return [n.name for n in nodes.nodes if "Traceback" in n.log_text()]


# -- a node killed ---------------------------------------------------------------


def test_kill_9_of_a_node_receiving_mail_loses_no_acknowledged_message(nodes: Nodes) -> None:
    """Clients send to node A until it is killed: every message A answered 250
    is in the store, as node B's IMAP shows, and none twice."""
    a, b, _ = nodes.nodes
    acked: list[str] = []
    stop = threading.Event()

    def client(n: int) -> None:
        i = 0
        while not stop.is_set():
            subject = f"in-{n}-{i}"
            i += 1
            to = f"alice@{DOMAIN}"
            try:
                with smtplib.SMTP(a.ip, a.smtp, local_hostname="client.example", timeout=10) as s:
                    s.sendmail("bob@example.org", [to], message(subject, to))
            except (OSError, smtplib.SMTPException):
                time.sleep(0.05)  # refused, cut off or 4xx: not acknowledged
                continue
            acked.append(subject)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    try:
        _wait("20 messages acknowledged by node A", lambda: len(acked) >= 20, 30)
        assert a.proc is not None
        os.kill(a.proc.pid, signal.SIGKILL)  # the node's SMTP workers die with it
        a.proc.wait(10)
        time.sleep(1)  # clients meet the dead node
    finally:
        stop.set()
        for t in threads:
            t.join(20)
    stored = _inbox_subjects(b, nodes)
    missing = sorted(set(acked) - set(stored))
    assert not missing, f"acknowledged by node A but not stored: {missing}"
    twice = sorted({s for s in stored if stored.count(s) > 1})
    assert not twice, f"stored twice: {twice}"


def test_kill_9_of_the_node_delivering_leaves_its_entries_to_another_node(nodes: Nodes) -> None:
    """Messages queued for the sink; the node holding their claims is killed
    mid-delivery; after its lease another node delivers them. The sink may get
    a message twice only when the killed node had sent it (the sink answered
    250) but could not record the outcome: at most once per entry it held."""
    a = nodes.nodes[0]
    rcpt = f"bob@{nodes.sink_domain}"
    subjects = [f"out-{i}" for i in range(12)]
    nodes.handler.delay = 1.0  # each transaction takes a second: claims are held meanwhile
    submit(a, nodes.ca_file, rcpt, subjects)
    _wait("a node claims the entries", lambda: bool(_claims(nodes.dsn)), 15)
    holder, held = max(_claims(nodes.dsn).items(), key=lambda kv: kv[1])
    victim = nodes.by_id(holder)
    assert victim.proc is not None
    os.kill(victim.proc.pid, signal.SIGKILL)
    victim.proc.wait(10)
    killed_at = time.monotonic()
    _wait("the queue empties", lambda: _queued(nodes.dsn) == 0, 40, 0.3)
    took = time.monotonic() - killed_at
    got = [_subjects(m[2]) for m in nodes.sink.inbox()]
    assert sorted(set(got)) == sorted(subjects)
    assert len(got) - len(subjects) <= held, f"{len(got)} deliveries of {len(subjects)}"
    assert took < LEASE + 20, f"delivered {took:.1f} s after the kill"
    time.sleep(2)
    assert len(nodes.sink.inbox()) == len(got)  # nothing more arrives


# -- the database restarted ------------------------------------------------------------


def _smtp_reply(node: Node, subject: str) -> tuple[int, float]:
    """Send one message to alice on *node*; the reply that decided it (RCPT's
    when it was not 250, else the one to the end of DATA) and the seconds
    the session took."""
    to = f"alice@{DOMAIN}"
    began = time.monotonic()
    with smtplib.SMTP(node.ip, node.smtp, local_hostname="client.example", timeout=30) as s:
        s.ehlo()
        s.mail("bob@example.org")
        code, _ = s.rcpt(to)
        if code == 250:
            code, _ = s.data(message(subject, to))
    return code, time.monotonic() - began


def _submission_reply(node: Node, nodes: Nodes, subject: str) -> tuple[int, float]:
    """Submit one message for the sink as alice on *node*: the reply to the
    end of DATA and the seconds the session took."""
    rcpt = f"bob@{nodes.sink_domain}"
    began = time.monotonic()
    with smtplib.SMTP(node.ip, node.submission, local_hostname="laptop", timeout=30) as s:
        s.starttls(context=imap_context(nodes.ca_file))
        try:
            s.login(f"alice@{DOMAIN}", PASSWORD)
        except smtplib.SMTPAuthenticationError as exc:
            return exc.smtp_code, time.monotonic() - began
        s.mail(f"alice@{DOMAIN}")
        assert s.rcpt(rcpt)[0] == 250
        code, _ = s.data(message(subject, rcpt))
    return code, time.monotonic() - began


def _listening(dsn: str) -> int:
    """The LISTEN connections of the nodes (each node: changes and queue)."""
    rows = _query(
        dsn,
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND query LIKE 'LISTEN %'",
    )
    return int(rows[0][0])


DOWN = 12.0  # seconds the database stays down: longer than the nodes' connect_timeout


def _log_problems(node: Node) -> list[str]:
    """Lines of the node's log that are not one logfmt record each (a
    traceback, a library's plain text)."""
    return [line for line in node.log_text().splitlines() if not line.startswith("t=")]


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_nodes_answer_4xx_while_the_database_is_down_and_recover_after(
    nodes: Nodes, pg_cluster: Cluster, mode: str
) -> None:
    """PostgreSQL stopped (pg_ctl -m fast or immediate) under use and started
    again: meanwhile SMTP answers 4xx, never 250, in bounded time, and IMAP
    refuses cleanly; afterwards the same nodes deliver, serve IMAP, listen
    and run the queue again, with one log line per failure."""
    a, b, c = nodes.nodes
    assert _smtp_reply(a, "before")[0] == 250
    _wait("every node listens", lambda: _listening(nodes.dsn) == 6, 15)
    session = login(c, nodes.ca_file)  # logged in before, used while down
    assert session.cmd("s", "SELECT INBOX")[-1].startswith(b"s OK")
    replies: dict[str, list[tuple[int, float]]] = {}
    imap_replies: list[tuple[bytes, float]] = []
    crashed: list[str] = []

    def send(node: Node) -> None:
        replies[node.name] = [_smtp_reply(node, f"down-{node.name}-{i}") for i in range(2)]
        replies[f"{node.name} (submission)"] = [_submission_reply(node, nodes, "down-queued")]

    def use_imap() -> None:
        began = time.monotonic()
        line = _select_or_bye(session)
        imap_replies.append((line, time.monotonic() - began))
        began = time.monotonic()
        imap_replies.append((login_or_refusal(c, nodes), time.monotonic() - began))

    pg_cluster.stop_server(mode)
    stopped = time.monotonic()
    try:
        # Node A: SMTP in worker processes; B: in the main process.
        threads = [threading.Thread(target=_recorded(crashed, send, n)) for n in (a, b)]
        threads.append(threading.Thread(target=_recorded(crashed, use_imap)))
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        time.sleep(max(0.0, DOWN - (time.monotonic() - stopped)))  # the queue runners look too
    finally:
        pg_cluster.start_server()
        session.close()
    assert not crashed, crashed
    assert len(replies) == 4
    for name, got in replies.items():
        for code, took in got:
            assert 400 <= code < 500, f"node {name} answered {code} without a database"
            assert took < 15, f"node {name} took {took:.1f} s to answer {code}"
    assert len(imap_replies) == 2
    for line, took in imap_replies:
        assert line.startswith((b"s NO [UNAVAILABLE]", b"l NO [UNAVAILABLE]")), line
        assert took < 15, f"IMAP took {took:.1f} s to answer {line!r}"
    # Without restarting the nodes: delivery, IMAP and the queue work again.
    codes: list[int] = []

    def delivered() -> bool:
        codes.append(_smtp_reply(a, "after")[0])
        return codes[-1] == 250

    _wait("node A accepts mail again", delivered, 30, 0.5)
    assert _smtp_reply(b, "after-b")[0] == 250
    assert _inbox_subjects(c, nodes).count("after") == 1
    _wait("every node listens again", lambda: _listening(nodes.dsn) == 6, 40, 0.5)
    rcpt = f"bob@{nodes.sink_domain}"
    submit(b, nodes.ca_file, rcpt, ["queued-after"])
    _wait("the sink gets the queued message", lambda: bool(nodes.sink.inbox()), 30)
    for node in nodes.nodes:
        problems = _log_problems(node) + [
            line for line in node.log_text().splitlines() if "traceback=" in line
        ]
        assert not problems, f"node {node.name}:\n" + "\n".join(problems[:40])
        warnings = node.log_text().count(" l=warn ") + node.log_text().count(" l=error ")
        assert warnings < 40, f"node {node.name}: {warnings} warnings\n{node.log_text()[-3000:]}"


def _recorded(crashed: list[str], target: Callable[..., None], *args: Any) -> Callable[[], None]:
    """*target* for a thread, its exception recorded in *crashed*."""

    def run() -> None:
        try:
            target(*args)
        except Exception as exc:
            crashed.append(f"{target.__name__}{args!r}: {exc!r}")

    return run


def _select_or_bye(session: IMAP) -> bytes:
    """SELECT on a logged-in session: its tagged reply, or the BYE it closed with."""
    session.sock.sendall(b"s SELECT INBOX\r\n")
    while True:
        line = session.line()
        if not line or line.startswith((b"s ", b"* BYE")):
            return line


def login_or_refusal(node: Node, nodes: Nodes) -> bytes:
    """LOGIN as alice: the tagged reply, or the BYE the server closed with."""
    imap = IMAP(node, nodes.ca_file)
    try:
        imap.sock.sendall(f'l LOGIN alice "{PASSWORD}"\r\n'.encode())
        while True:
            line = imap.line()
            if not line or line.startswith((b"l ", b"* BYE")):
                return line
    finally:
        imap.close()


# -- a node stopped past its lease ---------------------------------------------------


def test_a_node_stopped_past_its_lease_leaves_its_entry_and_its_late_outcome_changes_nothing(
    nodes: Nodes,
) -> None:
    """The node delivering is stopped (SIGSTOP, as a partition would) while
    the sink keeps it waiting; after the lease another node delivers; the
    stopped node, continued, reads the sink's 451 and records nothing."""
    rcpt = f"bob@{nodes.sink_domain}"
    nodes.handler.delay = 2.0
    nodes.handler.refuse_first = 1  # the first node's transaction: 451 (after the delay)
    submit(nodes.nodes[0], nodes.ca_file, rcpt, ["partitioned"])
    _wait("a node starts the transaction", lambda: nodes.handler.transactions >= 1, 20)
    holder = next(iter(_claims(nodes.dsn)))
    stopped = nodes.by_id(holder)
    assert stopped.proc is not None
    os.killpg(stopped.proc.pid, signal.SIGSTOP)
    try:
        _wait("another node delivers", lambda: bool(nodes.sink.inbox()), LEASE + 25)
        _wait("the queue empties", lambda: _queued(nodes.dsn) == 0, 10)
    finally:
        os.killpg(stopped.proc.pid, signal.SIGCONT)
    _wait(
        "the late node notices its claim is gone",
        lambda: "outcomes not recorded" in stopped.log_text(),
        15,
    )
    time.sleep(1)
    assert _queued(nodes.dsn) == 0
    assert len(nodes.sink.inbox()) == 1
    assert nodes.handler.transactions == 2


# -- an attempt longer than the lease ---------------------------------------------------------


def test_an_attempt_longer_than_the_lease_keeps_its_claim(nodes: Nodes) -> None:
    """The sink answers after more than twice the lease; the node delivering
    renews its lease meanwhile, so no other node starts a second delivery."""
    rcpt = f"bob@{nodes.sink_domain}"
    nodes.handler.delay = 2.5 * LEASE
    submit(nodes.nodes[0], nodes.ca_file, rcpt, ["slow"])
    _wait("the sink accepts the message", lambda: bool(nodes.sink.inbox()), 2.5 * LEASE + 20)
    assert nodes.handler.transactions == 1, f"{nodes.handler.transactions} transactions"
    _wait("the queue empties", lambda: _queued(nodes.dsn) == 0, 10)
    assert len(nodes.sink.inbox()) == 1
