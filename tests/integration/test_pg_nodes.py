"""Three `postel serve` nodes on one PostgreSQL store (tests/pgcluster.py),
each with its own data directory and loopback address of the test network:
a message received by SMTP on node A is heard by an IMAP IDLE client on node
B within a second and can be fetched on B and C; a message submitted on A
for another domain leaves the shared queue once, although the queue runners
of all three nodes look for work (to an SMTP sink on loopback, found through
the test network's DNS); the user's junk verdicts given over IMAP on node B
file the next similar message received on node C."""

from __future__ import annotations

import os
import random
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner
from delivery_peer import PORT, PlainPeer, issue
from test_junk_webmail_training import HAM, SPAM, text

import postel
from pgcluster import Cluster, pg_cluster, pg_database
from postel.cli.main import cli

__all__ = ["pg_cluster", "pg_database"]

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

SRC = str(Path(postel.__file__).resolve().parents[1])
DOMAIN = "nodes.test"
PASSWORD = "a password of alice for the nodes"
START_TIMEOUT = 60.0

STATIC = """\
hostname = "{host}"
postmaster_account = "pm"

[server]
user = ""

[listeners.main]
ips = ["{ip}"]
tls_cert_file = "{cert}"
tls_key_file = "{key}"
smtp = {{ port = {smtp} }}
submission = {{ port = {submission} }}
submissions = {{ enabled = false }}
imap = {{ enabled = false }}
imaps = {{ enabled = true, port = {imaps} }}

[dns]
nameservers = ["{resolver}"]
timeout = 5

[tls]
extra_ca_files = ["{ca}"]

[reports]
no_outgoing_tls_reports = true
no_outgoing_dmarc_reports = true

[delivery]
allowed_internal_networks = ["127.0.0.0/8", "::1/128"]  # the test network is on loopback
smtp_port = {mx_port}
connect_timeout = 5

[limits]
smtp_workers = {workers}

[junk]
enabled = true

[storage]
backend = "postgresql"
dsn = "{dsn}"
password_file = "pgpassword"
node_id = "{node}"
connect_timeout = 10
queue_lease = 60
"""

DOMAINS = f"""\
[domains."{DOMAIN}"]

[accounts.pm]
domain = "{DOMAIN}"
addresses = ["postmaster@{DOMAIN}"]
"""


def _free_port(ip: str) -> int:
    with socket.socket() as s:
        s.bind((ip, 0))
        return int(s.getsockname()[1])


def _wait_port(ip: str, port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"node exited with {proc.returncode}:\n{log.read_text()}")
        try:
            socket.create_connection((ip, port), 1.0).close()
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{ip}:{port} not listening after {START_TIMEOUT} s:\n{log.read_text()}")


@dataclass
class Node:
    name: str
    ip: str
    config: Path
    smtp: int
    submission: int
    imaps: int
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None


@dataclass
class Nodes:
    nodes: list[Node]
    ca_file: Path
    sink: PlainPeer
    sink_domain: str
    dsn: str


def _imap_context(ca_file: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca_file))
    ctx.check_hostname = False  # the nodes are reached by address
    return ctx


class IMAP:
    """A raw IMAP client over TLS, enough for LOGIN, SELECT, IDLE and FETCH."""

    def __init__(self, node: Node, ca_file: Path) -> None:
        raw = socket.create_connection((node.ip, node.imaps), 10)
        self.sock = _imap_context(ca_file).wrap_socket(raw)
        self.sock.settimeout(10)
        self.file = self.sock.makefile("rb")
        assert self.line().startswith(b"* OK")

    def line(self) -> bytes:
        return self.file.readline()

    def cmd(self, tag: str, text: str) -> list[bytes]:
        self.sock.sendall(f"{tag} {text}\r\n".encode())
        out = []
        while True:
            line = self.line()
            if not line:
                raise AssertionError(f"connection closed after {out!r}")
            out.append(line)
            if line.startswith(tag.encode() + b" "):
                return out

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def nodes(testnet: Any, tmp_path: Path, pg_cluster: Cluster, pg_database: str) -> Iterator[Nodes]:
    dsn = pg_cluster.dsn(pg_database, with_password=False)
    ca_file = Path(str(testnet.ca_file))
    made: list[Node] = []
    for n, name in enumerate("abc"):
        ip = testnet.ip()
        host = f"node-{name}.{DOMAIN}"
        config = tmp_path / name
        certs = issue(testnet.ca, host, config / "certs", name=host)
        node = Node(name, ip, config, _free_port(ip), _free_port(ip), _free_port(ip))
        (config / "postel.toml").write_text(
            STATIC.format(
                host=host,
                ip=ip,
                cert=certs.cert,
                key=certs.key,
                smtp=node.smtp,
                submission=node.submission,
                imaps=node.imaps,
                resolver=testnet.resolver_ip,
                ca=testnet.ca_file,
                mx_port=PORT,
                workers=2 if n == 0 else 1,  # node A: SMTP in worker processes
                dsn=dsn,
                node=f"node-{name}",
            )
        )
        (config / "domains.toml").write_text(DOMAINS)
        (config / "pgpassword").write_text(pg_cluster.password + "\n")
        made.append(node)
    run = CliRunner().invoke
    a = made[0]
    migrated = run(cli, ["config", "migrate-db", "--config", str(a.config)])
    assert migrated.exit_code == 0, migrated.output
    password_file = tmp_path / "alice-password"
    password_file.write_text(PASSWORD + "\n")
    added = run(
        cli,
        ["account", "add", "--config", str(a.config), "alice", f"alice@{DOMAIN}",
         "--password-file", str(password_file)],
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    for node in made[1:]:  # the same domains.toml on every node
        (node.config / "domains.toml").write_text((a.config / "domains.toml").read_text())

    sink_ip = testnet.ip()
    sink_domain = f"sink-{sink_ip.replace('.', '-')}.test"
    testnet.set_zone(sink_domain, ["@ MX 10 mx", f"mx A {sink_ip}"], dnssec="unsigned")
    sink = PlainPeer(
        sink_ip, f"mx.{sink_domain}", issue(testnet.ca, f"mx.{sink_domain}", tmp_path / "sink")
    )
    loop_thread = _SinkLoop(sink)
    env = {**os.environ, "PYTHONPATH": SRC}
    try:
        for node in made:
            node.log = node.config / "serve.log"
            with open(node.log, "wb") as out:
                node.proc = subprocess.Popen(
                    [sys.executable, "-m", "postel", "serve", "--config", str(node.config)],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,
                )
        for node in made:
            assert node.proc is not None and node.log is not None
            for port in (node.smtp, node.submission, node.imaps):
                _wait_port(node.ip, port, node.proc, node.log)
        yield Nodes(made, ca_file, sink, sink_domain, pg_cluster.dsn(pg_database))
    finally:
        for node in made:
            if node.proc is not None and node.proc.poll() is None:
                os.killpg(node.proc.pid, signal.SIGTERM)
        for node in made:
            if node.proc is not None:
                try:
                    node.proc.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(node.proc.pid, signal.SIGKILL)
                    node.proc.wait(10)
        loop_thread.stop()


class _SinkLoop:
    """The SMTP sink's event loop, in a thread of its own."""

    def __init__(self, sink: PlainPeer) -> None:
        import asyncio

        self.sink = sink
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(sink.start(), self.loop).result(10)

    def stop(self) -> None:
        import asyncio

        asyncio.run_coroutine_threadsafe(self.sink.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def _login(node: Node, ca_file: Path) -> IMAP:
    imap = IMAP(node, ca_file)
    assert imap.cmd("l", f'LOGIN alice "{PASSWORD}"')[-1].startswith(b"l OK")
    return imap


def _message(subject: str, to: str) -> bytes:
    return (
        f"From: alice@{DOMAIN}\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject.replace(' ', '-')}@{DOMAIN}>\r\n\r\nHello from a node.\r\n"
    ).encode()


def test_idle_on_node_b_hears_mail_received_on_node_a_and_c_fetches_it(nodes: Nodes) -> None:
    a, b, c = nodes.nodes
    idler = _login(b, nodes.ca_file)
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
            s.sendmail("bob@example.org", [f"alice@{DOMAIN}"], _message("to a", f"alice@{DOMAIN}"))
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
        imap = _login(node, nodes.ca_file)
        try:
            assert imap.cmd("s", "SELECT INBOX")[-1].startswith(b"s OK")
            fetched = b"".join(imap.cmd("f", "UID FETCH 1 (BODY.PEEK[])"))
        finally:
            imap.close()
        assert b"Subject: to a" in fetched and b"Hello from a node." in fetched


def test_a_message_queued_on_node_a_is_delivered_once(nodes: Nodes) -> None:
    a = nodes.nodes[0]
    rcpt = f"bob@{nodes.sink_domain}"
    ctx = ssl.create_default_context(cafile=str(nodes.ca_file))
    ctx.check_hostname = False
    with smtplib.SMTP(a.ip, a.submission, local_hostname="laptop", timeout=20) as s:
        s.starttls(context=ctx)
        s.login(f"alice@{DOMAIN}", PASSWORD)
        s.sendmail(f"alice@{DOMAIN}", [rcpt], _message("outgoing", rcpt))
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
    imap = _login(b, nodes.ca_file)
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
