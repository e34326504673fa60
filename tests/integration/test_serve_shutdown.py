"""A clean stop of `postel serve` with SMTP and delivery workers logs no error.

Ctrl-C and `kill -TERM -PGID` signal the whole process group, and systemd's
stop signals every process of the service: the workers get the signal too.
The main process must stop them in order, without "smtp worker exited,
restarting" or "delivery worker exited, restarting". A web request that is
still being answered keeps the main process busy for a moment after the
signal, as a real one would.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import trustme
from storagebackend import Backend

import postel

pytestmark = pytest.mark.integration

SRC = str(Path(postel.__file__).resolve().parents[1])

POSTEL_TOML = """\
hostname = "mail.example.test"
postmaster_account = "pm"

[server]
user = ""  # no switch of user when the tests run as root: see test_serve_privdrop.py

[dns]
nameservers = ["127.0.0.1"]
port = {dns_port}
timeout = 0.5

[listeners.main]
ips = ["127.0.0.1"]
tls_cert_file = "certs/host.crt"
tls_key_file = "certs/host.key"
smtp = {{ port = {smtp} }}
submission = {{ enabled = false }}
submissions = {{ enabled = false }}
web = {{ enabled = true, port = {web}, tls = false, admin = true }}

[limits]
smtp_workers = 2

[delivery]
workers = 2
"""

DOMAINS_TOML = """\
[domains."example.test"]

[accounts.pm]
domain = "example.test"
addresses = ["postmaster@example.test"]
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def connect(port: int, timeout: float = 30.0) -> socket.socket:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), 1.0)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with open(task / "children") as f:
            out.extend(int(p) for p in f.read().split())
    return out


@pytest.mark.parametrize(
    ("to", "sig"),
    [
        ("group", signal.SIGTERM),  # kill -TERM -PGID
        ("group", signal.SIGINT),  # Ctrl-C
        ("every", signal.SIGTERM),  # systemctl stop (KillMode=control-group)
    ],
)
def test_stop_signal_stops_cleanly(
    tmp_path: Path, to: str, sig: signal.Signals, storage_backend: Backend
) -> None:
    """On either store, stopped during an admin web request; on PostgreSQL the
    workers' and the main process's pools close too."""
    config = tmp_path / "config"
    (config / "certs").mkdir(parents=True)
    leaf = trustme.CA().issue_cert("mail.example.test")
    leaf.cert_chain_pems[0].write_to_path(str(config / "certs" / "host.crt"))
    leaf.private_key_pem.write_to_path(str(config / "certs" / "host.key"))
    smtp, web = free_port(), free_port()
    toml = POSTEL_TOML.format(dns_port=free_port(), smtp=smtp, web=web)
    (config / "postel.toml").write_text(toml)
    (config / "domains.toml").write_text(DOMAINS_TOML)
    storage_backend.configure(config)
    log = tmp_path / "postel.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "postel", "serve", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": SRC},
            start_new_session=True,  # its own process group, as a shell job has
        )
    try:
        with connect(smtp) as s:
            assert s.recv(512).startswith(b"220")
        workers = _stop_during_a_web_request(proc, web, to, sig)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    text = log.read_text("utf-8", "replace")
    assert "l=error" not in text, text
    assert "restart" not in text, text
    assert "Traceback" not in text, text
    assert 'm="smtp workers stopped"' in text
    assert 'm="delivery workers stopped"' in text
    assert not [pid for pid in workers if alive(pid)]


def _stop_during_a_web_request(
    proc: subprocess.Popen[bytes], web: int, to: str, sig: signal.Signals
) -> list[int]:
    """Signal *proc* (and its workers) while a web request is being answered;
    returns the workers' pids."""
    with connect(web) as http:
        workers = children(proc.pid)
        assert len(workers) == 4  # two SMTP, two delivery workers
        # A login whose body is still on its way when the signal comes.
        http.sendall(
            b"POST /admin/login HTTP/1.1\r\nHost: localhost\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: 20\r\n\r\npassword="
        )
        time.sleep(0.5)
        signal_stop(proc, workers, to, sig)
        time.sleep(1.5)
        http.sendall(b"x" * 11)
        http.settimeout(10)
        assert http.recv(512).startswith(b"HTTP/1.1 ")
    return workers


def signal_stop(
    proc: subprocess.Popen[bytes], workers: list[int], to: str, sig: signal.Signals
) -> None:
    if to == "group":
        os.killpg(proc.pid, sig)
    else:
        for pid in (proc.pid, *workers):
            os.kill(pid, sig)
