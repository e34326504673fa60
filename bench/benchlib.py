"""Shared pieces of the benchmarks: machine facts, free ports, a private Postfix,
a `postel serve` subprocess, a DNS stub and memory accounting.

Everything listens on 127.0.0.1 only. Postfix comes from
tests/integration/postfixpeer (a private instance under /tmp, own queue).
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
POSTEL = str(VENV_BIN / "postel") if (VENV_BIN / "postel").exists() else "postel"
sys.path.insert(0, str(REPO / "tests" / "integration"))
sys.path.insert(0, str(REPO / "bench"))

from postfixpeer.peer import PostfixPeer  # noqa: E402

IP = "127.0.0.1"
SMTP_SOURCE = shutil.which("smtp-source") or "/usr/sbin/smtp-source"
SMTP_SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((IP, 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 20.0, ip: str = IP) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((ip, port), 0.5) as s:
            s.settimeout(2)
            if s.recv(512).startswith(b"220"):
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing answers 220 on {ip}:{port} after {timeout}s")


def machine_info() -> dict[str, str]:
    info: dict[str, str] = {}
    with contextlib.suppress(Exception):
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            k, _, v = line.partition(":")
            if k.strip() == "Model name":
                info["cpu"] = v.strip()
    info["cores"] = str(os.cpu_count())
    with contextlib.suppress(Exception):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["ram"] = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    info["kernel"] = platform.release()
    info["python"] = platform.python_version()
    with contextlib.suppress(Exception):
        out = subprocess.run(
            ["postconf", "-d", "mail_version"], capture_output=True, text=True
        ).stdout
        info["postfix"] = out.split("=")[-1].strip()
    with contextlib.suppress(Exception):
        info["postel"] = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
        ).stdout.strip()
    with contextlib.suppress(Exception):
        df = subprocess.run(["df", "-T", "/tmp"], capture_output=True, text=True).stdout
        info["filesystem"] = df.splitlines()[1].split()[1]
    return info


# -- certificates ------------------------------------------------------------------


@dataclass
class Certs:
    dir: Path
    cert: Path
    key: Path
    ca: Path


def make_certs(directory: Path, name: str = "mail.bench.test") -> Certs:
    import trustme

    ca = trustme.CA()
    leaf = ca.issue_cert(name, IP)
    directory.mkdir(parents=True, exist_ok=True)
    c = Certs(directory, directory / "cert.pem", directory / "key.pem", directory / "ca.pem")
    leaf.cert_chain_pems[0].write_to_path(str(c.cert))
    leaf.private_key_pem.write_to_path(str(c.key))
    ca.cert_pem.write_to_path(str(c.ca))
    os.chmod(c.key, 0o644)  # read by Postfix's smtpd (user postfix) as well
    os.chmod(directory, 0o755)
    return c


# -- DNS stub -----------------------------------------------------------------------


@contextlib.contextmanager
def dns_stub() -> Iterator[int]:
    """bench/dnsstub.py in its own process; yields its UDP port."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "bench" / "dnsstub.py"), str(port)],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        proc.stdout.readline()  # "ready"
        yield port
    finally:
        proc.terminate()
        proc.wait(5)


# -- postel -------------------------------------------------------------------------

POSTEL_TOML = """\
hostname = "mail.bench.test"
postmaster_account = "bench"

[server]
user = ""  # runs as the user that starts it, root included

[log]
level = "{log_level}"

[dns]
nameservers = ["{dns_ip}"]
port = {dns_port}
timeout = 2.0

[listeners.bench]
ips = ["{ip}"]
tls_cert_file = "{cert}"
tls_key_file = "{key}"
smtp = {{ port = {port} }}
submission = {{ enabled = false }}
submissions = {{ enabled = false }}

[limits]
max_connections = {max_connections}
max_message_size = 10485760
smtp_workers = {smtp_workers}

[delivery]
allowed_internal_networks = ["127.0.0.0/8", "::1/128"]  # test network on loopback
smtp_port = {smtp_port}
connect_timeout = 5

[tls]
extra_ca_files = ["{ca}"]
"""

DOMAINS_TOML = """\
[domains."bench.test"]

[accounts.bench]
domain = "bench.test"
addresses = ["rcpt@bench.test", "postmaster@bench.test"]
"""


@dataclass
class PostelInstance:
    """`postel serve --config DIR` as a subprocess (what an operator runs)."""

    root: Path
    certs: Certs
    dns_port: int
    port: int = 0
    smtp_port: int = 25
    max_connections: int = 2000
    log_level: str = "info"
    smtp_workers: int = 0  # [limits] smtp_workers: 0 automatic (CPUs, at most 4)
    proc: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)
    orphans: list[int] = field(default_factory=list)  # workers of a killed main process

    def write_config(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = free_port()
        (self.root / "postel.toml").write_text(
            POSTEL_TOML.format(
                ip=IP,
                dns_ip=IP,
                dns_port=self.dns_port,
                cert=self.certs.cert,
                key=self.certs.key,
                ca=self.certs.ca,
                port=self.port,
                smtp_port=self.smtp_port,
                max_connections=self.max_connections,
                log_level=self.log_level,
                smtp_workers=self.smtp_workers,
            )
        )
        (self.root / "domains.toml").write_text(DOMAINS_TOML)

    @property
    def data(self) -> Path:
        return self.root / "data"

    def start(self, timeout: float = 30.0, *, wait: bool = True) -> None:
        """Start `postel serve`; with *wait*, return once its SMTP port answers."""
        if not (self.root / "postel.toml").exists():
            self.write_config()
        if self.wait_dead():
            raise RuntimeError(f"workers of the killed postel still run: {self.orphans}")
        log = open(self.root / "postel.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [POSTEL, "serve", "--config", str(self.root)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **self.env},
        )
        log.close()
        if not wait:
            return
        try:
            wait_port(self.port, timeout)
        except RuntimeError:
            self.stop()
            raise RuntimeError(f"postel did not start: {self.log_tail()}") from None

    def log_tail(self, n: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join((self.root / "postel.log").read_text("utf-8", "replace")
                             .splitlines()[-n:])  # fmt: skip
        return ""

    def kill9(self) -> None:
        """kill -9 of the main process; its SMTP workers die with it
        (PR_SET_PDEATHSIG): see :meth:`wait_dead`, which start() also calls."""
        if self.proc is not None:
            self.orphans = descendants(self.proc.pid)
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            self.proc = None

    def wait_dead(self, timeout: float = 15.0) -> list[int]:
        """Wait for the workers of a killed main process to exit; the ones still alive."""
        deadline = time.monotonic() + timeout
        while self.orphans and time.monotonic() < deadline:
            self.orphans = [pid for pid in self.orphans if _alive(pid)]
            if self.orphans:
                time.sleep(0.05)
        return self.orphans

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
            self.proc = None

    def pids(self) -> list[int]:
        """The main process and its worker processes (SMTP and delivery)."""
        return [self.proc.pid, *descendants(self.proc.pid)] if self.proc is not None else []


def _alive(pid: int) -> bool:
    """True while *pid* runs (a zombie counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


# -- Postfix ------------------------------------------------------------------------


class PostfixInstance(PostfixPeer):
    """A private Postfix (tests/integration/postfixpeer) on 127.0.0.1:port.

    Inbound mode: every recipient is relayed to the ``discard`` transport, so a
    message is accepted once cleanup has written and fsynced its queue file
    (Postfix's durability point, ``postconf -d`` fsync defaults kept), then the
    queue manager hands it to discard(8), which deletes it.
    """

    def __init__(self, port: int, certs: Certs, root: Path | None = None) -> None:
        if root is not None:
            root.mkdir(parents=True, exist_ok=True)
        super().__init__(IP, port=port, hostname="postfix.bench.test", ca_file=certs.ca,
                         root=root)  # fmt: skip
        self.certs = certs
        self.base_extra = {
            "smtpd_tls_security_level": "may",
            "smtpd_tls_cert_file": str(certs.cert),
            "smtpd_tls_key_file": str(certs.key),
            "smtpd_tls_loglevel": "0",
            "default_process_limit": "1200",
            "smtpd_client_connection_count_limit": "0",
            "message_size_limit": "10485760",
            "smtpd_peername_lookup": "yes",
            "inet_protocols": "ipv4",
        }

    def inbound(self) -> None:
        self.configure(
            None,
            "none",
            extra={
                **self.base_extra,
                "default_transport": "discard:bench",
                "relay_transport": "discard:bench",
            },
        )

    def outbound(
        self, sink_port: int, tls: bool, defer: bool, nexthops: dict[str, str] | None = None
    ) -> None:
        """Deliver to the sink: through one relayhost, or with *nexthops* (domain ->
        IP) one transport_maps entry per domain, so that each domain is its own
        destination (own concurrency limit and connection cache, as with MX hosts)."""
        extra = {**self.base_extra}
        if defer:
            extra["defer_transports"] = "smtp relay"
        level = "may" if tls else "none"
        if not nexthops:
            self.configure((IP, sink_port), level, extra=extra)
            return
        self.configure(None, level, extra=extra)
        (self.etc / "transport").write_text(
            "".join(f"{d} smtp:[{ip}]:{sink_port}\n" for d, ip in nexthops.items())
        )
        self._run("postfix", "-c", str(self.etc), "reload")

    def outbound_release(self, sink_port: int, tls: bool) -> None:
        """Drop defer_transports without clearing the queue, reload, flush."""
        self._settings.pop("defer_transports", None)
        self._write()
        self._run("postfix", "-c", str(self.etc), "reload")
        self._run("postqueue", "-c", str(self.etc), "-f")

    def pids(self) -> list[int]:
        """Every process of this instance (master and its children)."""
        pidfile = self.queue / "pid" / "master.pid"
        with contextlib.suppress(OSError, ValueError):
            master = int(pidfile.read_text().split()[0])
            return [master, *descendants(master)]
        return []


def descendants(pid: int) -> list[int]:
    out: list[int] = []
    children: dict[int, list[int]] = {}
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (p / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(p.name))
    todo = [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def memory_kib(pids: list[int]) -> tuple[int, int]:
    """(sum of RSS, sum of PSS) in KiB over *pids* (PSS splits shared pages fairly)."""
    rss = pss = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
    return rss, pss


def tmpdir(prefix: str) -> Path:
    d = Path(tempfile.mkdtemp(prefix=prefix))
    d.chmod(0o755)
    return d
