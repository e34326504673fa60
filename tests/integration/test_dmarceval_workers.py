"""DMARC evaluations are recorded by SMTP worker processes: `postel serve` with
two workers on 127.0.0.1, a DNS stub (here, on loopback) publishing SPF and a
DMARC record with rua for the sending domain; every delivered message leaves
one evaluation in dmarceval.db."""

from __future__ import annotations

import asyncio
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import dns.flags
import dns.message
import dns.rcode
import dns.rrset
import pytest
from storagebackend import Backend

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import benchlib  # noqa: E402

from postel.config import Config, load_config  # noqa: E402
from postel.dmarcevaldb import EvalDB  # noqa: E402
from postel.dmarcevaldb.record import Evaluation  # noqa: E402
from postel.server import Running, run  # noqa: E402
from postel.wiring import node_id, pg_settings  # noqa: E402

pytestmark = pytest.mark.integration

ZONE = {
    ("client.test.", "TXT"): '"v=spf1 ip4:127.0.0.1 -all"',
    ("_dmarc.client.test.", "TXT"): '"v=DMARC1; p=quarantine; rua=mailto:d@client.test"',
    ("1.0.0.127.in-addr.arpa.", "PTR"): "localhost.",
}


def _answer(data: bytes) -> bytes:
    q = dns.message.from_wire(data)
    resp = dns.message.make_response(q)
    resp.flags |= dns.flags.AA
    question = q.question[0]
    name = question.name.to_text().lower()
    rdtype = dns.rdatatype.to_text(question.rdtype)
    value = ZONE.get((name, rdtype))
    if value is not None:
        resp.answer.append(dns.rrset.from_text(question.name, 60, "IN", rdtype, value))
    elif not any(k[0] == name for k in ZONE):
        resp.set_rcode(dns.rcode.NXDOMAIN)
    return bytes(resp.to_wire())


@pytest.fixture()
def dns_port() -> Iterator[int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((benchlib.IP, 0))
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, addr = sock.recvfrom(4096)
            except TimeoutError:
                continue
            try:
                sock.sendto(_answer(data), addr)
            except Exception:
                continue

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield int(sock.getsockname()[1])
    finally:
        stop.set()
        t.join(5)
        sock.close()


async def _send(port: int, n: int) -> None:
    reader, writer = await asyncio.open_connection(benchlib.IP, port)
    assert (await reader.readline()).startswith(b"220")
    for cmd in (b"EHLO mx.client.test", b"MAIL FROM:<s@client.test>",
                b"RCPT TO:<rcpt@bench.test>", b"DATA"):  # fmt: skip
        writer.write(cmd + b"\r\n")
        while (line := await reader.readline())[3:4] == b"-":
            pass
        assert line[:1] in (b"2", b"3"), (cmd, line)
    writer.write(f"From: <s@client.test>\r\nSubject: {n}\r\n\r\nhello\r\n.\r\n".encode())
    line = await reader.readline()
    assert line.startswith(b"250"), line
    writer.write(b"QUIT\r\n")
    await reader.readline()
    writer.close()


async def test_workers_record_one_evaluation_per_message(
    tmp_path: Path, dns_port: int, storage_backend: Backend
) -> None:
    """On PostgreSQL the evaluations of every node are the database's."""
    certs = benchlib.make_certs(tmp_path / "certs")
    p = benchlib.PostelInstance(tmp_path / "postel", certs, dns_port, smtp_workers=2)
    p.write_config()
    storage_backend.configure(p.root)
    cfg = load_config(p.root)
    stop = asyncio.Event()
    started: asyncio.Future[Running] = asyncio.get_running_loop().create_future()
    server = asyncio.create_task(
        run(cfg, ready=started.set_result, stop=stop, check_dns=False, smtp_workers=2)
    )
    await asyncio.wait_for(started, 30)
    try:
        await asyncio.gather(*(_send(p.port, i) for i in range(20)))
    finally:
        stop.set()
        await asyncio.wait_for(server, 30)
    # The workers store what they recorded when they stop.
    evs = await asyncio.to_thread(_evaluations, cfg, storage_backend)
    assert len(evs) == 20
    assert {(e.policy_domain, e.spf_aligned, e.disposition, e.source_ip) for e in evs} == {
        ("client.test", "pass", "none", "127.0.0.1")
    }


def _evaluations(cfg: Config, backend: Backend) -> list[Evaluation]:
    """The recorded evaluations: dmarceval.db, or the database's."""
    if not backend.is_pg:
        with EvalDB.open(cfg.datadir.dmarceval_db) as db:
            return db.evaluations()
    from postel.pg.reportparts import open_reports

    reports = open_reports(pg_settings(cfg.static.storage, cfg.dir), node_id(cfg), pool_size=2)
    try:
        return reports.evaluations.evaluations()
    finally:
        reports.close()
