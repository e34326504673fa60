"""Three `postel serve` nodes on one PostgreSQL store (tests/pgcluster.py), for
the multi-node tests (test_pg_nodes.py, test_pg_failures.py): each node with its
own config and data directory and loopback address of the test network, one
account "alice", and an SMTP sink on loopback for another domain (found through
the test network's DNS) whose replies a test can slow down or script."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from click.testing import CliRunner
from delivery_peer import PORT, PlainPeer, issue

import postel
from pgcluster import Cluster
from postel.cli.main import cli

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
connect_timeout = {connect_timeout}
queue_lease = {queue_lease}
"""

DOMAINS = f"""\
[domains."{DOMAIN}"]

[accounts.pm]
domain = "{DOMAIN}"
addresses = ["postmaster@{DOMAIN}"]
"""


def free_port(ip: str) -> int:
    with socket.socket() as s:
        s.bind((ip, 0))
        return int(s.getsockname()[1])


def wait_port(ip: str, port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
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


class Served(Protocol):
    """A node's `postel serve`: its config folder, the process and its log."""

    config: Path
    proc: subprocess.Popen[bytes] | None
    log: Path | None


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

    @property
    def node_id(self) -> str:
        return f"node-{self.name}"

    def log_text(self) -> str:
        return "" if self.log is None else self.log.read_text(errors="replace")


class SinkHandler:
    """The sink's DATA handler: every accepted message, in order; each reply
    after *delay* seconds; the first *refuse_first* transactions answered with
    *refusal* (after the delay) instead of being accepted."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes, list[str]]] = []
        self.delay = 0.0
        self.refuse_first = 0
        self.refusal = "451 4.3.0 try again later"
        self.transactions = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.transactions += 1
        refuse = self.transactions <= self.refuse_first
        if self.delay:
            await asyncio.sleep(self.delay)
        if refuse:
            return self.refusal
        self.messages.append(
            (envelope.mail_from, list(envelope.rcpt_tos), envelope.content, envelope.mail_options)
        )
        return "250 2.0.0 OK"


class _SinkLoop:
    """The SMTP sink's event loop, in a thread of its own."""

    def __init__(self, sink: PlainPeer) -> None:
        self.sink = sink
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(sink.start(), self.loop).result(10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.sink.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@dataclass
class Nodes:
    nodes: list[Node]
    ca_file: Path
    sink: PlainPeer
    sink_domain: str
    dsn: str
    handler: SinkHandler = field(default_factory=SinkHandler)

    def by_id(self, node_id: str) -> Node:
        return next(n for n in self.nodes if n.node_id == node_id)


def _configure(
    testnet: Any, tmp_path: Path, cluster: Cluster, dsn: str, queue_lease: float, migrate: bool
) -> list[Node]:
    made: list[Node] = []
    for n, name in enumerate("abc"):
        ip = testnet.ip()
        host = f"node-{name}.{DOMAIN}"
        config = tmp_path / name
        certs = issue(testnet.ca, host, config / "certs", name=host)
        node = Node(name, ip, config, free_port(ip), free_port(ip), free_port(ip))
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
                node=node.node_id,
                connect_timeout=5,
                queue_lease=queue_lease,
            )
        )
        (config / "domains.toml").write_text(DOMAINS)
        (config / "pgpassword").write_text(cluster.password + "\n")
        made.append(node)
    if not migrate:  # left to the nodes' `serve` (an empty database: no accounts)
        return made
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
    return made


def start_node(node: Served) -> None:
    """Start (or start again) the node's `postel serve`, appending to its log
    (the caller waits for its ports)."""
    node.log = node.config / "serve.log"
    env = {**os.environ, "PYTHONPATH": SRC}
    with open(node.log, "ab") as out:
        node.proc = subprocess.Popen(
            [sys.executable, "-m", "postel", "serve", "--config", str(node.config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )


def _wait_started(node: Node) -> None:
    assert node.proc is not None and node.log is not None
    for port in (node.smtp, node.submission, node.imaps):
        wait_port(node.ip, port, node.proc, node.log)


def stop_node(node: Served) -> None:
    """SIGTERM to the node's process group (SIGKILL when it lingers); a node
    stopped by SIGSTOP is continued first."""
    if node.proc is None:
        return
    if node.proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(node.proc.pid, signal.SIGCONT)
            os.killpg(node.proc.pid, signal.SIGTERM)
    try:
        node.proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(node.proc.pid, signal.SIGKILL)
        node.proc.wait(10)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(node.proc.pid, signal.SIGKILL)  # SMTP workers left over, if any


@contextlib.contextmanager
def running_nodes(
    testnet: Any,
    tmp_path: Path,
    cluster: Cluster,
    database: str,
    *,
    queue_lease: float = 60,
    migrate: bool = True,
) -> Iterator[Nodes]:
    """The three nodes started (their ports open), stopped at the end.
    *migrate*: the schema made and alice added first (else the database is
    left empty for the nodes to migrate as they start)."""
    dsn = cluster.dsn(database, with_password=False)
    made = _configure(testnet, tmp_path, cluster, dsn, queue_lease, migrate)
    sink_ip = testnet.ip()
    sink_domain = f"sink-{sink_ip.replace('.', '-')}.test"
    testnet.set_zone(sink_domain, ["@ MX 10 mx", f"mx A {sink_ip}"], dnssec="unsigned")
    sink = PlainPeer(
        sink_ip, f"mx.{sink_domain}", issue(testnet.ca, f"mx.{sink_domain}", tmp_path / "sink")
    )
    handler = SinkHandler()
    sink.handler = handler  # type: ignore[assignment]
    loop_thread = _SinkLoop(sink)
    try:
        for node in made:
            start_node(node)
        for node in made:
            _wait_started(node)
        yield Nodes(
            made, Path(str(testnet.ca_file)), sink, sink_domain, cluster.dsn(database), handler
        )
    finally:
        for node in made:
            stop_node(node)
        loop_thread.stop()


# -- clients -------------------------------------------------------------------


def imap_context(ca_file: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca_file))
    ctx.check_hostname = False  # the nodes are reached by address
    return ctx


class IMAP:
    """A raw IMAP client over TLS, enough for LOGIN, SELECT, IDLE and FETCH."""

    def __init__(self, node: Node, ca_file: Path) -> None:
        raw = socket.create_connection((node.ip, node.imaps), 10)
        self.sock = imap_context(ca_file).wrap_socket(raw)
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


def login(node: Node, ca_file: Path) -> IMAP:
    imap = IMAP(node, ca_file)
    assert imap.cmd("l", f'LOGIN alice "{PASSWORD}"')[-1].startswith(b"l OK")
    return imap


def message(subject: str, to: str) -> bytes:
    return (
        f"From: alice@{DOMAIN}\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject.replace(' ', '-')}@{DOMAIN}>\r\n\r\nHello from a node.\r\n"
    ).encode()


def submit(node: Node, ca_file: Path, rcpt: str, subjects: list[str]) -> None:
    """Submit one message per subject as alice on *node* (one session)."""
    with smtplib.SMTP(node.ip, node.submission, local_hostname="laptop", timeout=20) as s:
        s.starttls(context=imap_context(ca_file))
        s.login(f"alice@{DOMAIN}", PASSWORD)
        for subject in subjects:
            s.sendmail(f"alice@{DOMAIN}", [rcpt], message(subject, rcpt))
