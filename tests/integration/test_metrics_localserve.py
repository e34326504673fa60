"""Metrics of `postel localserve` (the real command, a subprocess, SMTP in one
process): it prints the URL of its metrics listener on a free loopback port;
a submission delivered through the queue (local only) and a web request move
the counters; /healthz answers. DNS from bench/dnsstub.py."""

from __future__ import annotations

import random
import re
import signal
import smtplib
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from queue import Empty, Queue

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import benchlib  # noqa: E402

from postel.localserve import ADDRESS, PASSWORD, PORTS, ensure_local_config  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

POSTEL = Path(sys.executable).parent / "postel"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def dns_port() -> Iterator[int]:
    with benchlib.dns_stub() as port:
        yield port


def loopback_ip() -> str:
    """An address of 127.0.0.0/8 of its own: localserve's fixed ports cannot clash."""
    rng = random.SystemRandom()
    return f"127.{rng.randint(100, 199)}.{rng.randint(0, 255)}.{rng.randint(2, 254)}"


class Running:
    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: Queue[str] = Queue()
        self.printed: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put("")

    def read_until(self, pattern: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except Empty:
                line = None
            if line == "" or (line is None and time.monotonic() > deadline):
                raise AssertionError(f"no {pattern!r}; printed: {self.printed}")
            if line is None:
                continue
            self.printed.append(line)
            if re.search(pattern, line):
                return line


@pytest.fixture
def localserve(tmp_path: Path, dns_port: int) -> Iterator[tuple[Running, str]]:
    ip = loopback_ip()
    info = ensure_local_config(tmp_path / "local", ip)
    with (info.config_dir / "postel.toml").open("a") as f:
        f.write(f'\n[dns]\nnameservers = ["127.0.0.1"]\nport = {dns_port}\ntimeout = 2\n')
    proc = subprocess.Popen(
        [str(POSTEL), "localserve", "--dir", str(tmp_path / "local"), "--ip", ip],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    running = Running(proc)
    try:
        running.read_until(r"^Stop with Ctrl-C\.$", 60)
        yield running, ip
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def scrape(url: str) -> Samples:
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200
    out: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def total(found: Samples, name: str, **labels: str) -> float:
    want = set(labels.items())
    return sum(v for (n, lab), v in found.items() if n == name and want <= lab)


def submit(ip: str) -> None:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # localserve's certificate is self-signed
    with smtplib.SMTP_SSL(ip, PORTS["submissions"], context=ctx, timeout=20) as c:
        c.login(ADDRESS, PASSWORD)
        c.sendmail(
            ADDRESS,
            ["friend@example.com"],
            f"From: {ADDRESS}\r\nTo: friend@example.com\r\nSubject: m\r\n\r\nhi\r\n".encode(),
        )


def test_localserve_prints_metrics_url_and_counters_move(
    localserve: tuple[Running, str],
) -> None:
    running, ip = localserve
    line = next(line for line in running.printed if "/metrics" in line)
    url = re.search(r"(http://\S+/metrics)$", line)
    assert url is not None and url.group(1).startswith(f"http://{ip}:"), line
    metrics = url.group(1)
    health = httpx.get(metrics.replace("/metrics", "/healthz"), timeout=10)
    assert (health.status_code, health.text) == (200, "ok listeners\nok queue\nok databases\n")

    before = scrape(metrics)
    submit(ip)
    assert httpx.get(f"http://{ip}:{PORTS['web']}/webmail/login", timeout=10).status_code == 200
    deadline = time.monotonic() + 30
    while True:
        after = scrape(metrics)
        if total(after, "postel_deliveries_total", result="delivered") >= 1:
            break
        assert time.monotonic() < deadline, "no delivery counted"
        time.sleep(0.2)

    def moved(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    assert moved("postel_connections_total", protocol="submissions") == 1
    assert moved("postel_authentications_total", protocol="submissions", result="success") == 1
    assert moved("postel_messages_received_total", protocol="submissions", result="accepted") == 1
    assert moved("postel_deliveries_total", result="delivered") == 1  # local only
    assert moved("postel_connections_total", protocol="http") >= 1
    assert (
        moved("postel_command_duration_seconds_count", protocol="http", command="GET", result="2xx")
        >= 1
    )
    assert total(after, "postel_queue_entries") == 0
    assert total(after, "postel_certificate_expiry_timestamp_seconds", listener="local") > 0

    running.proc.send_signal(signal.SIGINT)
    assert running.proc.wait(15) == 0
