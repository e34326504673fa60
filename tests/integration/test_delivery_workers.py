"""Delivery in worker processes (postel.deliveryworkers): `postel serve` with
[delivery] workers = 2 takes mail on its submission port, queues it and
delivers it through its two delivery processes to a Postfix MX on the test
network; the main process records the outcomes and TLS results as with one
process. A worker killed with SIGKILL is restarted and every message still
arrives; a clean stop logs no error. On SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import re
import signal
import smtplib
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from postfixpeer import PostfixPeer
from storagebackend import Backend

from postel.config import Config, load_config
from postel.deliveryworkers import worker_for
from postel.deliveryworkers.worker import CID_SLOT_BASE
from postel.server import Running, run
from postel.wiring import CLIRoot, open_queue_entries

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

PASSWORD = "correct horse battery staple"
HOSTNAME = "mail.dwsender.test"
SLOT_SHIFT = 27  # postel.log: the cid's bits above this are the process's slot
_n = itertools.count()


@dataclass
class Node:
    cfg: Config
    port: int
    ca_file: str
    running: Running
    stop: asyncio.Event
    task: asyncio.Task[None]

    def submit(self, rcpts: list[str], subject: str) -> None:
        body = f"From: alice@dwsender.test\r\nSubject: {subject}\r\n\r\nhello\r\n".encode()
        ctx = ssl.create_default_context(cafile=self.ca_file)
        with smtplib.SMTP("127.0.0.1", self.port, local_hostname="laptop", timeout=20) as c:
            c.starttls(context=ctx)
            c.login("alice@dwsender.test", PASSWORD)
            c.sendmail("alice@dwsender.test", rcpts, body)

    def queue_empty(self) -> bool:
        entries = open_queue_entries(self.cfg)
        try:
            return entries.entries() == []
        finally:
            entries.close()


@pytest.fixture
def stderr(tmp_path: Path) -> Iterator[Path]:
    """fd 2 into a file while the node runs: the worker processes inherit it,
    so their log lines (on stderr) can be read."""
    path = tmp_path / "stderr.log"
    saved = os.dup(2)
    with path.open("ab", buffering=0) as f:
        os.dup2(f.fileno(), 2)
        try:
            yield path
        finally:
            os.dup2(saved, 2)
            os.close(saved)


@pytest.fixture
async def node(
    testnet: Any, tmp_path: Path, storage_backend: Backend, stderr: Path
) -> AsyncIterator[Node]:
    d = tmp_path / "sender"
    d.mkdir()
    cert = testnet.ca.issue_cert(HOSTNAME, "127.0.0.1")
    cert.private_key_pem.write_to_path(str(d / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(d / "cert.pem"))
    (d / "postel.toml").write_text(f"""
hostname = "{HOSTNAME}"
postmaster_account = "alice"
[listeners.local]
ips = ["127.0.0.1"]
tls_cert_file = "cert.pem"
tls_key_file = "key.pem"
smtp = {{ enabled = false }}
submission = {{ port = 0 }}
submissions = {{ enabled = false }}
[dns]
nameservers = ["{testnet.resolver_ip}"]
timeout = 5
[tls]
extra_ca_files = ["{testnet.ca_file}"]
[delivery]
workers = 2
allowed_internal_networks = ["127.0.0.0/8", "::1/128"]  # test network on loopback
connect_timeout = 5
""")
    (d / "domains.toml").write_text("""
[domains."dwsender.test"]
[accounts.alice]
domain = "dwsender.test"
addresses = ["alice@dwsender.test"]
""")
    storage_backend.configure(d, {"alice": PASSWORD})
    cfg = load_config(d)
    ready: asyncio.Future[Running] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    task = asyncio.create_task(
        run(cfg, ready=lambda r: ready.set_result(r), stop=stop, check_dns=False)
    )
    try:
        running = await asyncio.wait_for(asyncio.shield(ready), 30)
        port = next(p for _ip, p, kind in running.bound if kind == "submission")
        yield Node(cfg, port, str(testnet.ca_file), running, stop, task)
    finally:
        stop.set()
        await asyncio.wait_for(task, 90)


async def wait_for(cond: Callable[[], bool], timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if await asyncio.to_thread(cond):
            return
        await asyncio.sleep(0.2)
    raise AssertionError("condition not met in time")


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def domains_for_both_workers(testnet: Any, per_worker: int) -> list[str]:
    """Fresh domains, *per_worker* of them routed to each of the two workers."""
    tag = testnet.ip().replace(".", "-")
    picked: dict[int, list[str]] = {0: [], 1: []}
    while min(len(v) for v in picked.values()) < per_worker:
        d = f"dw{next(_n)}-{tag}.test"
        if len(picked[worker_for(d, 2)]) < per_worker:
            picked[worker_for(d, 2)].append(d)
    return picked[0] + picked[1]


def serve_mx(testnet: Any, peer: PostfixPeer, tmp_path: Path, domains: list[str]) -> None:
    for d in domains:
        testnet.set_zone(d, ["@ MX 10 mx", f"mx A {peer.ip}"], dnssec="unsigned")
    cert = testnet.ca.issue_cert(*(f"mx.{d}" for d in domains))
    cert.private_key_pem.write_to_path(str(tmp_path / "mx-key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "mx-cert.pem"))
    peer.configure(relay_to=None, tls="may")
    peer.receive_into_maildir(
        domains, cert_file=tmp_path / "mx-cert.pem", key_file=tmp_path / "mx-key.pem"
    )


def delivering_slots(stderr: str) -> dict[str, set[int]]:
    """Per domain, the cid slots of the processes that logged "delivering" for it."""
    out: dict[str, set[int]] = {}
    for line in stderr.splitlines():
        if "m=delivering" not in line:
            continue
        domain = re.search(r" domain=(\S+)", line)
        cid = re.search(r" cid=([0-9a-f]+)", line)
        assert domain is not None and cid is not None, line
        out.setdefault(domain.group(1), set()).add(int(cid.group(1), 16) >> SLOT_SHIFT)
    return out


async def test_mail_is_delivered_through_the_worker_processes(
    caplog: pytest.LogCaptureFixture,
    testnet: Any,
    postfix_peer: PostfixPeer,
    node: Node,
    tmp_path: Path,
    stderr: Path,
) -> None:
    pool = node.running.delivery
    assert pool is not None
    pids = pool.pids()
    assert len(pids) == 2 and os.getpid() not in pids
    for pid in pids:
        assert b"postel.deliveryworkers.worker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    domains = domains_for_both_workers(testnet, 2)
    serve_mx(testnet, postfix_peer, tmp_path, domains)
    for i, d in enumerate(domains):
        await asyncio.to_thread(node.submit, [f"bob@{d}", f"carol@{d}"], f"m{i}")
    await wait_for(lambda: all(len(postfix_peer.maildir_messages(d)) == 2 for d in domains))
    assert all(b"(using TLS" in m for d in domains for m in postfix_peer.maildir_messages(d))
    # Recorded by the main process: the queue is empty, and each domain's TLS
    # results (one successful STARTTLS session, no policy) are in the results.
    await wait_for(node.queue_empty)
    with CLIRoot.for_config(node.cfg) as root:
        for d in domains:
            rows = root.resultdb.rows(policy_domain=d)
            assert [r.recipient_domain for r in rows] == [d]
            ok = sum(p.summary.total_successful_session_count for p in rows[0].results)
            assert ok == 1, rows
            assert rows[0].results[0].policy.policy_type == "no-policy-found"
    # Each domain was delivered by its worker (cid slot 100 + worker number).
    slots = delivering_slots(stderr.read_text())
    for d in domains:
        assert slots[d] == {CID_SLOT_BASE + worker_for(d, 2) + 1}, (d, slots)
    # A clean stop: running attempts end, then the workers; nothing logged as an error.
    node.stop.set()
    await asyncio.wait_for(node.task, 60)
    for pid in pids:
        assert not alive(pid), f"delivery worker {pid} still runs after stop"
    err = stderr.read_text()
    assert " l=error" not in err and "Traceback" not in err, err
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_killed_worker_is_restarted_and_every_message_arrives(
    testnet: Any, postfix_peer: PostfixPeer, node: Node, tmp_path: Path
) -> None:
    pool, queue = node.running.delivery, node.running.queue
    assert pool is not None and queue is not None
    domains = domains_for_both_workers(testnet, 3)
    serve_mx(testnet, postfix_peer, tmp_path, domains)
    subjects = [f"k{i}" for i in range(30)]

    def submit_all() -> None:
        for i, s in enumerate(subjects):
            node.submit([f"u{i}@{domains[i % len(domains)]}"], s)

    def arrived() -> set[str]:
        found = set()
        for d in domains:
            for m in postfix_peer.maildir_messages(d):
                subject = re.search(rb"^Subject: (\S+)", m, re.M)
                if subject:
                    found.add(subject.group(1).decode())
        return found

    submitting = asyncio.create_task(asyncio.to_thread(submit_all))
    await wait_for(lambda: len(arrived()) >= 3)
    victim = pool.workers[0].proc
    assert victim is not None
    os.kill(victim.pid, signal.SIGKILL)
    # Started again (with backoff) under a new pid.
    await wait_for(lambda: len(pool.pids()) == 2 and victim.pid not in pool.pids(), 30)
    assert pool.workers[0].restarts == 1
    await submitting
    # Attempts the kill failed are deferred as temporary; retried at once here.
    end = time.monotonic() + 90
    while arrived() != set(subjects) and time.monotonic() < end:
        await asyncio.to_thread(queue.entries.retry, None)
        queue.wake()
        await asyncio.sleep(1)
    assert arrived() == set(subjects)
    await wait_for(node.queue_empty)
