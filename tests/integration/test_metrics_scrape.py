"""Metrics of a real `postel serve` (a subprocess, SMTP in 2 worker processes):
scraped before and after an incoming message and a submission delivered over
the queue to an SMTP sink (bench/sink.py, STARTTLS) on loopback, the counters
written by the workers and by the main process are summed and moved. DNS from
bench/dnsstub.py (MX of dN.sink.test -> 127.0.1.N+1)."""

from __future__ import annotations

import os
import signal
import smtplib
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import benchlib  # noqa: E402
import procs  # noqa: E402

from postel.config import load_config  # noqa: E402
from postel.store.credentials import Credentials  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

PASSWORD = "metrics scrape password"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def dns_port() -> Iterator[int]:
    with benchlib.dns_stub() as port:
        yield port


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> benchlib.Certs:
    return benchlib.make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def sink(certs: benchlib.Certs) -> Iterator[int]:
    port = benchlib.free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            str(BENCH / "sink.py"),
            str(port),
            "--cert",
            str(certs.cert),
            "--key",
            str(certs.key),
            # bench/dnsstub.py: the MX of dN.sink.test is 127.0.1.N+1.
            "--ips",
            "127.0.1.1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        benchlib.wait_port(port, ip="127.0.1.1")
        yield port
    finally:
        proc.terminate()
        proc.wait(5)


class Serve:
    def __init__(self, p: benchlib.PostelInstance, submission: int, metrics: int) -> None:
        self.p, self.submission, self.metrics = p, submission, metrics

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"http://{benchlib.IP}:{self.metrics}{path}", timeout=10)

    def scrape(self) -> Samples:
        response = self.get("/metrics")
        assert response.status_code == 200, response.text
        out: Samples = {}
        for family in text_string_to_metric_families(response.text):
            for s in family.samples:
                out[(s.name, frozenset(s.labels.items()))] = s.value
        return out


@pytest.fixture
def serve(tmp_path: Path, certs: benchlib.Certs, dns_port: int, sink: int) -> Iterator[Serve]:
    p = benchlib.PostelInstance(
        tmp_path / "postel", certs, dns_port, smtp_workers=2, smtp_port=sink
    )
    p.write_config()
    submission, metrics = benchlib.free_port(), benchlib.free_port()
    toml = p.root / "postel.toml"
    text = toml.read_text().replace(
        "submission = { enabled = false }", f"submission = {{ port = {submission} }}"
    )
    text += f'\n[metrics]\nenabled = true\nip = "{benchlib.IP}"\nport = {metrics}\n'
    toml.write_text(text)
    cfg = load_config(p.root)
    cfg.datadir.ensure()
    creds = Credentials(cfg.datadir.auth_db)
    try:
        creds.set_password("bench", PASSWORD)
    finally:
        creds.close()
    p.start()
    try:
        serve = Serve(p, submission, metrics)
        deadline = time.monotonic() + 30
        while True:  # the metrics listener starts once every other part runs
            try:
                serve.get("/healthz")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, p.log_tail()
                time.sleep(0.1)
        yield serve
    finally:
        p.stop()


def total(found: Samples, name: str, **labels: str) -> float:
    want = set(labels.items())
    return sum(v for (n, lab), v in found.items() if n == name and want <= lab)


def incoming(port: int) -> None:
    with smtplib.SMTP(benchlib.IP, port, local_hostname="client.test", timeout=20) as c:
        c.sendmail(
            "someone@client.test",
            ["rcpt@bench.test"],
            b"From: someone@client.test\r\nSubject: in\r\n\r\nhello\r\n",
        )


def submit(port: int, ca: Path) -> None:
    ctx = ssl.create_default_context(cafile=str(ca))
    with smtplib.SMTP(benchlib.IP, port, local_hostname="laptop", timeout=20) as c:
        c.starttls(context=ctx)
        c.login("rcpt@bench.test", PASSWORD)
        c.sendmail(
            "rcpt@bench.test",
            ["friend@d0.sink.test"],
            b"From: rcpt@bench.test\r\nTo: friend@d0.sink.test\r\nSubject: out\r\n\r\nhi\r\n",
        )


def wait_for_scrape(serve: Serve, name: str, want: float, **labels: str) -> Samples:
    deadline = time.monotonic() + 60
    while True:
        found = serve.scrape()
        if total(found, name, **labels) >= want:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{name}{labels} never reached {want}: {serve.p.log_tail()}")
        time.sleep(0.2)


def test_scrape_around_a_delivery_with_smtp_workers(serve: Serve, certs: benchlib.Certs) -> None:
    health = serve.get("/healthz")
    assert (health.status_code, health.text) == (200, "ok listeners\nok queue\nok databases\n")
    before = serve.scrape()
    incoming(serve.p.port)
    submit(serve.submission, certs.ca)
    after = wait_for_scrape(serve, "postel_deliveries_total", 1, result="delivered")

    def moved(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    # Written by the SMTP workers.
    assert moved("postel_connections_total", protocol="smtp") == 1
    assert moved("postel_connections_total", protocol="submission") == 1
    assert moved("postel_messages_received_total", protocol="smtp", result="accepted") == 1
    assert moved("postel_messages_received_total", protocol="submission", result="accepted") == 1
    assert moved("postel_authentications_total", protocol="submission", result="success") == 1
    assert moved("postel_command_duration_seconds_count", protocol="submission", command="AUTH")
    assert moved("postel_dmarc_evaluations_total") == 1
    # Written by the main process: the queue and the outgoing session (STARTTLS
    # offered by the sink, no MTA-STS, no DANE: opportunistic TLS).
    assert moved("postel_deliveries_total", result="delivered") == 1
    assert (
        moved(
            "postel_delivery_duration_seconds_count",
            tls_mode="opportunistic",
            result="delivered",
        )
        == 1
    )
    assert moved("postel_mtasts_lookups_total", result="none") == 1
    assert moved("postel_dns_lookup_duration_seconds_count", type="MX", result="ok") >= 1
    # The recorder removes the delivered entry in its own thread, just after
    # the delivery was counted: the gauge follows within moments.
    deadline = time.monotonic() + 30
    while total(serve.scrape(), "postel_queue_entries") != 0:
        assert time.monotonic() < deadline, "the delivered entry stayed in the queue gauge"
        time.sleep(0.2)
    # One file set per process that recorded: the main process and a worker at least.
    pids = {f.stem.rsplit("_", 1)[1] for f in (serve.p.data / "metrics").glob("*.db")}
    assert str(serve.p.proc.pid) in pids and len(pids) >= 2, pids  # type: ignore[union-attr]


def test_counts_of_an_exited_worker_stay(serve: Serve) -> None:
    for _ in range(4):  # spread over the workers by the kernel
        incoming(serve.p.port)
    before = serve.scrape()
    # Also the start-up check's connection (benchlib.wait_port).
    counted = total(before, "postel_connections_total", protocol="smtp")
    assert counted >= 4
    workers = procs.of_kind(serve.p.pids()[1:], "smtp")
    assert len(workers) == 2
    os.kill(workers[0], signal.SIGKILL)
    deadline = time.monotonic() + 30
    while (now := procs.of_kind(serve.p.pids()[1:], "smtp")) and (
        workers[0] in now or len(now) < 2
    ):
        assert time.monotonic() < deadline, "worker not restarted"
        time.sleep(0.1)
    deadline = time.monotonic() + 30
    while serve.get("/healthz").status_code != 200:
        assert time.monotonic() < deadline, serve.get("/healthz").text
        time.sleep(0.1)
    after = serve.scrape()
    # Counters never go back while the server runs; no connection is open.
    assert total(after, "postel_connections_total", protocol="smtp") == counted
    assert total(after, "postel_connections_open") == 0
