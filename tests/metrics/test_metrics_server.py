"""A running instance (SMTP in this process, as localserve runs it) serves
/metrics and /healthz on its metrics listener; a message moves the counters."""

from __future__ import annotations

import asyncio
import base64
import smtplib
import socket
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from loopbackports import closed_udp_port
from metricsamples import Samples, samples, total, value
from postel.config import load_config
from postel.hostkeys import write_key_and_cert
from postel.metrics import runtime
from postel.server import Running, run
from postel.store.credentials import Credentials

pytestmark = pytest.mark.timeout(60)

PASSWORD = "metrics test password"

DOMAINS = """
[domains."example.org"]

[accounts.alice]
domain = "example.org"
addresses = ["alice@example.org"]
"""


def write_config(d: Path) -> Path:
    d.mkdir(parents=True)
    write_key_and_cert(d / "certs/mail.key", d / "certs/mail.crt", ["mail.example.org"])
    (d / "postel.toml").write_text(
        f"""
hostname = "mail.example.org"
postmaster_account = "alice"

[server]
user = ""

[dns]
nameservers = ["127.0.0.1"]
port = {closed_udp_port()}
timeout = 1

[listeners.local]
ips = ["127.0.0.1"]
tls_cert_file = "certs/mail.crt"
tls_key_file = "certs/mail.key"
smtp = {{ port = 0 }}
submission = {{ port = 0 }}
submissions = {{ enabled = false }}

[login_limit]
free_per_client_account = 1
first_delay = 60

[metrics]
enabled = true
ip = "127.0.0.1"
port = 0
"""
    )
    (d / "domains.toml").write_text(DOMAINS)
    return d


@dataclass
class Instance:
    running: Running
    config: Path
    data: Path

    def port(self, kind: str) -> int:
        [port] = [p for _, p, k in self.running.bound if k == kind]
        return port

    async def get(self, path: str) -> httpx.Response:
        url = f"http://127.0.0.1:{self.port('metrics')}{path}"
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.get(url)

    async def scrape(self) -> Samples:
        response = await self.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        return samples(response.text)


@pytest.fixture
async def instance(tmp_path: Path) -> AsyncIterator[Instance]:
    cfg = load_config(write_config(tmp_path / "config"))
    cfg.datadir.ensure()
    creds = Credentials(cfg.datadir.auth_db)
    try:
        creds.set_password("alice", PASSWORD)
    finally:
        creds.close()
    stop = asyncio.Event()
    started: asyncio.Future[Running] = asyncio.get_running_loop().create_future()
    server = asyncio.create_task(
        run(cfg, ready=started.set_result, stop=stop, check_dns=False, smtp_workers=1)
    )
    done, _ = await asyncio.wait([server, started], timeout=30, return_when=asyncio.FIRST_COMPLETED)
    assert started in done, server.exception() if server.done() else "not started"
    try:
        yield Instance(started.result(), cfg.dir, cfg.datadir.root)
    finally:
        stop.set()
        await asyncio.wait_for(server, 30)
    assert runtime.current() is None  # recording stops with the instance


def send(port: int) -> None:
    with smtplib.SMTP("127.0.0.1", port, local_hostname="client.example", timeout=20) as c:
        c.sendmail(
            "someone@sender.test",
            ["alice@example.org"],
            b"From: someone@sender.test\r\nSubject: hi\r\n\r\nhello\r\n",
        )


async def test_counters_move_around_a_message(instance: Instance) -> None:
    before = await instance.scrape()
    await asyncio.to_thread(send, instance.port("smtp"))
    after = await instance.scrape()

    def moved(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    assert moved("postel_connections_total", protocol="smtp") == 1
    assert moved("postel_messages_received_total", protocol="smtp", result="accepted") == 1
    for verb in ("EHLO", "MAIL", "RCPT", "DATA", "QUIT"):
        assert moved("postel_command_duration_seconds_count", protocol="smtp", command=verb) == 1, (
            verb
        )
    assert moved("postel_dmarc_evaluations_total") == 1
    assert moved("postel_dns_lookup_duration_seconds_count") >= 1  # SPF, DMARC, PTR
    # At scrape time: the queue (empty) and nothing on hold.
    assert value(after, "postel_queue_entries") == 0
    assert value(after, "postel_queue_held_entries") == 0
    assert (instance.data / runtime.DIRNAME).is_dir()
    cert = x509.load_pem_x509_certificate((instance.config / "certs/mail.crt").read_bytes())
    assert (
        value(
            after,
            "postel_certificate_expiry_timestamp_seconds",
            listener="local",
            file=str(instance.config / "certs/mail.crt"),
        )
        == cert.not_valid_after_utc.timestamp()
    )


def logins(port: int, passwords: list[str]) -> list[int]:
    """One SMTP AUTH PLAIN per password on the submission port; the reply codes."""
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    codes = []
    for password in passwords:
        with smtplib.SMTP("127.0.0.1", port, local_hostname="laptop", timeout=20) as c:
            c.starttls(context=ctx)
            c.ehlo()
            plain = base64.b64encode(f"\0alice@example.org\0{password}".encode()).decode()
            code, _ = c.docmd("AUTH", "PLAIN " + plain)
            codes.append(code)
    return codes


async def test_logins_by_result(instance: Instance) -> None:
    codes = await asyncio.to_thread(
        logins, instance.port("submission"), [PASSWORD, "wrong", "wrong again"]
    )
    # The second failure is refused by the login limiter (454, RFC 4954 §6).
    assert codes == [235, 535, 454]
    found = await instance.scrape()
    for result in ("success", "failure", "ratelimited"):
        assert (
            value(found, "postel_authentications_total", protocol="submission", result=result) == 1
        ), result


async def test_healthz_says_every_part_is_up(instance: Instance) -> None:
    response = await instance.get("/healthz")
    assert response.status_code == 200
    assert response.text == "ok listeners\nok queue\nok databases\n"


async def test_only_metrics_and_healthz(instance: Instance) -> None:
    assert (await instance.get("/")).status_code == 404
    assert (await instance.get("/admin/")).status_code == 404


async def test_port_in_use_is_one_line_for_the_operator(tmp_path: Path) -> None:
    from postel.cli.startup import operator_message
    from postel.metrics.errors import MetricsListenError

    config = write_config(tmp_path / "config")
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        toml = config / "postel.toml"
        toml.write_text(toml.read_text().replace("port = 0\n", f"port = {port}\n"))
        cfg = load_config(config)
        with pytest.raises(MetricsListenError) as err:
            await asyncio.wait_for(run(cfg, check_dns=False, smtp_workers=1), 30)
    line = operator_message(err.value)
    assert line is not None and "\n" not in line
    assert line.startswith(f"metrics listener 127.0.0.1 port {port} ([metrics] in postel.toml): ")
    assert runtime.current() is None
