"""The main process's DeliveryPool with real worker processes, delivering to
an address literal on loopback (no DNS): outcomes come back through the pipes,
a worker killed with SIGKILL fails its request in flight as temporary and is
started again, a worker that cannot start says why in one line."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from postel.config import Config, load_config
from postel.delivery.request import DeliveryRequest
from postel.deliveryworkers import DeliveryPool, DeliveryWorkerStartError, worker_for

pytestmark = pytest.mark.timeout(90)


async def smtp_peer(hang: bool, connected: asyncio.Event) -> tuple[asyncio.Server, int]:
    """A minimal SMTP server on 127.0.0.1 that accepts everything, or (*hang*)
    never says its greeting."""

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connected.set()
        try:
            if hang:
                await reader.read()  # until the client goes
                return
            writer.write(b"220 peer.test ESMTP\r\n")
            in_data = False
            while line := await reader.readline():
                if in_data:
                    if line == b".\r\n":
                        in_data = False
                        writer.write(b"250 2.0.0 queued\r\n")
                    continue
                verb = line[:4].upper()
                if verb == b"EHLO":
                    writer.write(b"250-peer.test\r\n250 8BITMIME\r\n")
                elif verb == b"DATA":
                    in_data = True
                    writer.write(b"354 go on\r\n")
                elif verb == b"QUIT":
                    writer.write(b"221 bye\r\n")
                    await writer.drain()
                    return
                else:
                    writer.write(b"250 ok\r\n")
                await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(session, "127.0.0.1", 0)
    return server, int(server.sockets[0].getsockname()[1])


def config(tmp_path: Path, port: int) -> Config:
    (tmp_path / "postel.toml").write_text(f"""
hostname = "mail.sender.test"
postmaster_account = "alice"
[listeners]
[dns]
nameservers = ["127.0.0.1"]
timeout = 2
[delivery]
workers = 2
smtp_port = {port}
connect_timeout = 5
connection_cache_time = 0
allowed_internal_networks = ["127.0.0.0/8"]
""")
    (tmp_path / "domains.toml").write_text("""
[domains."sender.test"]
[accounts.alice]
domain = "sender.test"
addresses = ["alice@sender.test"]
""")
    cfg = load_config(tmp_path)
    cfg.datadir.ensure()
    return cfg


def request(tmp_path: Path) -> DeliveryRequest:
    msg = tmp_path / "message.eml"
    msg.write_bytes(b"From: alice@sender.test\r\nSubject: hi\r\n\r\nhello\r\n")
    return DeliveryRequest(
        domain="[127.0.0.1]",
        mail_from="alice@sender.test",
        rcpts=["bob@[127.0.0.1]"],
        message=msg,
        size=msg.stat().st_size,
    )


Start = Callable[[bool], Awaitable[tuple[DeliveryPool, asyncio.Event]]]


@pytest.fixture
async def started(tmp_path: Path) -> AsyncIterator[Start]:
    servers: list[asyncio.Server] = []
    pools: list[DeliveryPool] = []

    async def start(hang: bool) -> tuple[DeliveryPool, asyncio.Event]:
        connected = asyncio.Event()
        server, port = await smtp_peer(hang, connected)
        servers.append(server)
        pool = DeliveryPool(config(tmp_path, port), 2, log_time=False, stop_timeout=5)
        pools.append(pool)
        await pool.start()
        return pool, connected

    yield start
    for pool in pools:
        await pool.aclose()
    for server in servers:
        server.close()


async def test_outcomes_come_back_from_the_workers(
    started: Start, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pool, _ = await started(False)
    pids = pool.pids()
    assert len(pids) == 2 and os.getpid() not in pids
    outcomes = await asyncio.gather(*(pool.deliver(request(tmp_path)) for _ in range(5)))
    for outcome in outcomes:
        [r] = outcome.recipients
        assert (r.rcpt, r.status, r.code) == ("bob@[127.0.0.1]", "delivered", 250)
    await pool.aclose()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # reaped: gone
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_killed_worker_fails_its_requests_as_temporary_and_restarts(
    started: Start, tmp_path: Path
) -> None:
    pool, connected = await started(True)
    req = request(tmp_path)
    attempt = asyncio.create_task(pool.deliver(req))
    await asyncio.wait_for(connected.wait(), 20)  # the worker waits for the greeting
    w = pool.workers[worker_for(req.domain, 2)]
    assert w.proc is not None
    victim = w.proc.pid
    os.kill(victim, signal.SIGKILL)
    outcome = await asyncio.wait_for(attempt, 20)
    [r] = outcome.recipients
    assert (r.status, r.enhanced, r.message) == ("temporary", "4.3.0", "delivery worker exited")
    for _ in range(100):
        if len(pool.pids()) == 2 and victim not in pool.pids():
            break
        await asyncio.sleep(0.1)
    assert len(pool.pids()) == 2 and victim not in pool.pids()
    assert w.restarts == 1


async def test_a_worker_that_cannot_start_says_why(tmp_path: Path) -> None:
    cfg = config(tmp_path, 2525)
    (tmp_path / "postel.toml").write_text("hostname = 42\n")  # broken after the main read it
    pool = DeliveryPool(cfg, 1, start_timeout=30)
    with pytest.raises(DeliveryWorkerStartError) as err:
        await pool.start()
    text = str(err.value)
    assert text.startswith("delivery worker 1: config ") and "postel.toml" in text
    assert "\n" not in text
