"""`postel localserve` end to end: the real command as a subprocess on a loopback
address of the test network. First run creates the instance; incoming mail over
STARTTLS lands in the Inbox; authenticated submission to remote addresses stays on
the machine (local-only delivery into the sender's "Localserve" mailbox, no
connection to the recipient domain's MX); SIGINT stops it with exit status 0."""

from __future__ import annotations

import contextlib
import itertools
import queue
import re
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from postel.config import load_config
from postel.delivery.localonly import LOCALSERVE_MAILBOX
from postel.localserve import ACCOUNT, ADDRESS, PASSWORD, PORTS, ensure_local_config
from postel.store import Store
from postel.store.errors import StoreError

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

POSTEL = Path(sys.executable).parent / "postel"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
_n = itertools.count()


@dataclass
class LocalServe:
    """A running `postel localserve` and the lines it printed."""

    proc: subprocess.Popen[str]
    base: Path
    ip: str
    lines: queue.Queue[str] = field(default_factory=queue.Queue)
    printed: list[str] = field(default_factory=list)

    def read_until(self, pattern: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no line matching {pattern!r}; printed: {self.printed}")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line == "":  # end of output
                raise AssertionError(
                    f"localserve exited ({self.proc.poll()}) before {pattern!r}; "
                    f"printed: {self.printed}"
                )
            self.printed.append(line)
            if re.search(pattern, line):
                return line

    def interrupt(self) -> int:
        """Ctrl-C: SIGINT, then the exit status (bounded)."""
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(STOP_TIMEOUT)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def messages(self, mailbox: str) -> list[bytes]:
        cfg = load_config(self.base / "config")
        with Store(cfg.datadir) as store:
            acc = store.account(ACCOUNT)
            try:
                msgs = acc.list_messages(mailbox, limit=100, newest_first=False)
            except StoreError:
                return []
            return [acc.message_path(m.msgid).read_bytes() for m in msgs]


def start(base: Path, ip: str, *, pass_ip: bool = True) -> LocalServe:
    argv = [str(POSTEL), "localserve", "--dir", str(base)] + (["--ip", ip] if pass_ip else [])
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    ls = LocalServe(proc, base, ip)

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            ls.lines.put(line.rstrip("\n"))
        ls.lines.put("")

    threading.Thread(target=pump, daemon=True).start()
    try:
        ls.read_until(r"^Stop with Ctrl-C\.$", START_TIMEOUT)
    except BaseException:
        ls.kill()
        raise
    return ls


@contextlib.contextmanager
def running(base: Path, ip: str, *, pass_ip: bool = True) -> Iterator[LocalServe]:
    ls = start(base, ip, pass_ip=pass_ip)
    try:
        yield ls
    finally:
        ls.kill()


def unverified() -> ssl.SSLContext:
    """localserve's certificate is self-signed: accept it, as the instructions say."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def wait_for(cond: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


class Trap:
    """A TCP listener on port 25 standing in for a remote MX: counts connections."""

    def __init__(self, ip: str) -> None:
        self.sock = socket.create_server((ip, 25))
        self.sock.settimeout(0.2)
        self.connections: list[tuple[str, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, peer = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections.append(peer)
            with contextlib.suppress(OSError):
                conn.sendall(b"421 trap: nothing may connect here\r\n")
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


def test_first_run_prints_instructions_and_stops_on_sigint(testnet: Any, tmp_path: Path) -> None:
    ip = testnet.ip()  # its own loopback address: the fixed ports cannot clash
    base = tmp_path / "local"
    with running(base, ip) as ls:
        text = "\n".join(ls.printed)
        assert "mail never leaves this machine" in text
        assert f"Account: {ADDRESS}  password: {PASSWORD}" in text
        for label, kind in (
            ("SMTP", "smtp"),
            ("Submission (STARTTLS", "submission"),
            ("Submission (implicit TLS", "submissions"),
            ("IMAP (implicit TLS", "imaps"),
            ("IMAP (STARTTLS", "imap"),
        ):
            assert re.search(
                rf"{re.escape(label)}.*{re.escape(ip)} port {PORTS[kind]}$", text, re.M
            ), text
        assert f"http://{ip}:{PORTS['web']}/admin/" in text
        assert f"http://{ip}:{PORTS['web']}/webmail/" in text
        conf = (base / "config" / "postel.toml").read_text()
        assert f'ips = ["{ip}"]' in conf and "local_only = true" in conf
        for port in (PORTS["smtp"], PORTS["submission"], PORTS["submissions"], PORTS["web"]):
            with socket.create_connection((ip, port), timeout=5):
                pass
        with socket.create_connection((ip, PORTS["imap"]), timeout=5) as imap:
            assert imap.recv(1000).startswith(b"* OK [CAPABILITY IMAP4rev1")
        started = time.monotonic()
        assert ls.interrupt() == 0
        assert time.monotonic() - started < STOP_TIMEOUT
        ls.read_until(r"^postel localserve stopped\.$", 5)
        for port in (PORTS["smtp"], PORTS["web"]):
            with pytest.raises(OSError):
                socket.create_connection((ip, port), timeout=2).close()

    # A second run keeps the instance and its address (no --ip needed): same
    # config and certificate, password still valid.
    key = (base / "config" / "certs" / "localhost.key").read_bytes()
    with running(base, ip, pass_ip=False) as ls:
        with smtplib.SMTP_SSL(ip, PORTS["submissions"], context=unverified(), timeout=20) as c:
            c.login(ADDRESS, PASSWORD)
        assert (base / "config" / "certs" / "localhost.key").read_bytes() == key
        assert ls.interrupt() == 0


@pytest.fixture
def instance(testnet: Any, tmp_path: Path) -> Iterator[LocalServe]:
    """localserve with DNS through the test network's resolver (hermetic SPF/DMARC
    lookups; remote domains below test. resolve to a trap)."""
    ip = testnet.ip()
    base = tmp_path / "local"
    info = ensure_local_config(base, ip)
    with (info.config_dir / "postel.toml").open("a") as f:
        f.write(f'\n[dns]\nnameservers = ["{testnet.resolver_ip}"]\ntimeout = 5\n')
    with running(base, ip) as ls:
        yield ls


def message(frm: str, to: str, subject: str) -> bytes:
    return (
        f"From: {frm}\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{uuid.uuid4()}@localserve.test>\r\n\r\nHello {subject}.\r\n"
    ).encode()


def test_incoming_submission_local_only_and_sigint(testnet: Any, instance: LocalServe) -> None:
    ls, ip = instance, instance.ip

    # Incoming SMTP with STARTTLS (self-signed certificate) for the local account.
    subject = f"incoming {next(_n)}"
    with smtplib.SMTP(ip, PORTS["smtp"], local_hostname="client.example", timeout=20) as c:
        c.ehlo()
        assert c.has_extn("starttls")
        c.starttls(context=unverified())
        refused = c.sendmail(
            "tester@example.org", [ADDRESS], message("tester@example.org", ADDRESS, subject)
        )
        assert refused == {}
    [inbox_msg] = wait_for(lambda: ls.messages("Inbox"))
    assert f"Subject: {subject}".encode() in inbox_msg
    assert b"Received:" in inbox_msg and b"TLS" in inbox_msg.split(b"\r\n\r\n", 1)[0]

    # Without AUTH the SMTP port relays nothing.
    with smtplib.SMTP(ip, PORTS["smtp"], local_hostname="client.example", timeout=20) as c:
        c.starttls(context=unverified())
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            c.sendmail(
                "tester@example.org",
                ["someone@example.com"],
                message("tester@example.org", "someone@example.com", "relay"),
            )

    # Submission with AUTH to remote addresses: one under test. whose MX is a trap
    # on this network, one on the public internet. Nothing may connect anywhere.
    trap_ip = testnet.ip()
    trap = Trap(trap_ip)
    remote = f"ls{next(_n)}-{ip.split('.')[1]}.test"
    testnet.set_zone(remote, ["@ MX 10 mx", f"mx A {trap_ip}"], dnssec="unsigned")
    try:
        subject = f"outgoing {next(_n)}"
        rcpts = ["someone@example.com", f"bob@{remote}"]
        with smtplib.SMTP(ip, PORTS["submission"], local_hostname="laptop", timeout=20) as c:
            c.starttls(context=unverified())
            with pytest.raises(smtplib.SMTPAuthenticationError):
                c.login(ADDRESS, "wrong password")
            c.login(ADDRESS, PASSWORD)
            refused = c.sendmail(ADDRESS, rcpts, message(ADDRESS, ", ".join(rcpts), subject))
            assert refused == {}
        # One delivery per recipient domain, each into the sender's Localserve mailbox.
        msgs = wait_for(
            lambda: (
                [m for m in ls.messages(LOCALSERVE_MAILBOX) if f"Subject: {subject}".encode() in m]
                or None
            )
        )
        time.sleep(1.0)  # a late extra copy or a queued retry would show up now
        msgs = [m for m in ls.messages(LOCALSERVE_MAILBOX) if f"Subject: {subject}".encode() in m]
        assert len(msgs) == 2, msgs
        assert trap.connections == []
        # The queue is empty: delivered, not waiting for a retry.
        cfg = load_config(ls.base / "config")
        from postel.queue import QueueDB

        db = QueueDB.open(cfg.datadir)
        try:
            assert db.entries() == []
        finally:
            db.close()
        # Nothing else went to the Inbox (no DSN: the delivery succeeded locally).
        assert len(ls.messages("Inbox")) == 1
    finally:
        trap.close()

    # Submission to the own address goes to the Inbox.
    subject = f"to myself {next(_n)}"
    with smtplib.SMTP_SSL(ip, PORTS["submissions"], context=unverified(), timeout=20) as c:
        c.login(ADDRESS, PASSWORD)
        c.sendmail(ADDRESS, [ADDRESS], message(ADDRESS, ADDRESS, subject))
    wait_for(lambda: any(f"Subject: {subject}".encode() in m for m in ls.messages("Inbox")))

    started = time.monotonic()
    assert ls.interrupt() == 0
    assert time.monotonic() - started < STOP_TIMEOUT
    ls.read_until(r"^postel localserve stopped\.$", 5)


def run_to_exit(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(POSTEL), "localserve", *argv], capture_output=True, text=True, timeout=60
    )


def test_port_in_use_is_a_clear_error(testnet: Any, tmp_path: Path) -> None:
    ip = testnet.ip()
    with socket.create_server((ip, PORTS["submission"])):
        done = run_to_exit(["--dir", str(tmp_path / "local"), "--ip", ip])
    assert done.returncode == 1
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr == (
        f"error: {ip}:{PORTS['submission']} (listener 'local' submission): address already in "
        "use by another program; stop that program, or start localserve with another loopback "
        "address (--ip 127.0.0.2 and a new --dir)\n"
    )
    assert "is running" not in done.stdout


def test_ip_option_checked(testnet: Any, tmp_path: Path) -> None:
    base = tmp_path / "local"
    done = run_to_exit(["--dir", str(base), "--ip", "192.0.2.1"])
    assert done.returncode == 1 and "not a loopback address" in done.stderr
    done = run_to_exit(["--dir", str(base), "--ip", "localhost"])
    assert done.returncode == 1 and "not an IP address" in done.stderr
    assert not base.exists()
    # An existing instance keeps its address: another --ip is refused, not ignored.
    ip, other = testnet.ip(), testnet.ip()
    ensure_local_config(base, ip)
    done = run_to_exit(["--dir", str(base), "--ip", other])
    assert done.returncode == 1
    assert f"listens on {ip}" in done.stderr and "Traceback" not in done.stderr
