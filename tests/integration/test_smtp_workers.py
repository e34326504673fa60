"""SMTP worker processes (postel.smtpworkers): `postel serve` with [limits]
smtp_workers = 2 on 127.0.0.1, a DNS stub, bench/loadclient.py as client."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import benchlib  # noqa: E402
import procs  # noqa: E402
from loadclient import run_load  # noqa: E402
from storagebackend import Backend  # noqa: E402

from postel.config import load_config  # noqa: E402
from postel.server import Running, run  # noqa: E402
from postel.smtpserver.errors import BindError  # noqa: E402

pytestmark = pytest.mark.integration

SLOT_SHIFT = 27  # postel.log: the cid's bits above this are the process's slot


@pytest.fixture(scope="module")
def dns_port() -> Iterator[int]:
    with benchlib.dns_stub() as port:
        yield port


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> benchlib.Certs:
    return benchlib.make_certs(tmp_path_factory.mktemp("certs"))


def instance(
    tmp_path: Path, certs: benchlib.Certs, dns_port: int, backend: Backend | None = None
) -> benchlib.PostelInstance:
    p = benchlib.PostelInstance(tmp_path / "postel", certs, dns_port, smtp_workers=2)
    p.write_config()
    if backend is not None:
        backend.configure(p.root)
    return p


def stored(p: benchlib.PostelInstance, backend: Backend) -> int:
    """Messages of the account "bench", in its data directory or the database."""
    with backend.mailstore(p.root, "bench") as account:
        return sum(box.total for box in account.mailboxes())


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def send(port: int, count: int, concurrency: int = 5) -> list[str]:
    """Send *count* messages; the cids of the 250 replies."""
    cids: list[str] = []
    reader_writer = []
    for _ in range(count):
        reader, writer = await asyncio.open_connection(benchlib.IP, port)
        reader_writer.append((reader, writer))
        assert (await reader.readline()).startswith(b"220")
        for cmd in (b"EHLO client.test", b"MAIL FROM:<s@client.test>", b"RCPT TO:<rcpt@bench.test>",
                    b"DATA"):  # fmt: skip
            writer.write(cmd + b"\r\n")
            while (line := await reader.readline())[3:4] == b"-":
                pass
            assert line[:1] in (b"2", b"3"), (cmd, line)
        writer.write(b"Subject: w\r\n\r\nhello\r\n.\r\n")
        line = await reader.readline()
        assert line.startswith(b"250"), line
        cids.append(line.decode().rsplit("id ", 1)[1].strip())
        writer.write(b"QUIT\r\n")
        await reader.readline()
        writer.close()
    return cids


async def test_two_workers_share_the_port_and_stop(
    tmp_path: Path, certs: benchlib.Certs, dns_port: int, storage_backend: Backend
) -> None:
    p = instance(tmp_path, certs, dns_port, storage_backend)
    cfg = load_config(p.root)
    stop = asyncio.Event()
    started: asyncio.Future[Running] = asyncio.get_running_loop().create_future()
    server = asyncio.create_task(
        run(cfg, ready=started.set_result, stop=stop, check_dns=False, smtp_workers=2)
    )
    running = await asyncio.wait_for(started, 30)
    try:
        assert [b for b in running.bound if b[2] == "smtp"] == [(benchlib.IP, p.port, "smtp")]
        pids = running.workers.pids()
        assert len(pids) == 2 and os.getpid() not in pids
        cids = await send(p.port, 40)
        # Every process has its own cid range; both workers took connections.
        slots = {int(c, 16) >> SLOT_SHIFT for c in cids}
        assert slots == {1, 2}, cids
        assert len(set(cids)) == 40
        assert stored(p, storage_backend) == 40
    finally:
        stop.set()
        await asyncio.wait_for(server, 30)
    for pid in pids:
        assert not alive(pid), f"worker {pid} still runs after stop"
    with socket.create_server((benchlib.IP, p.port)):  # the port is free again
        pass


async def test_crashed_worker_is_restarted(
    tmp_path: Path,
    certs: benchlib.Certs,
    dns_port: int,
    storage_backend: Backend,
    caplog: pytest.LogCaptureFixture,
) -> None:
    p = instance(tmp_path, certs, dns_port, storage_backend)
    cfg = load_config(p.root)
    stop = asyncio.Event()
    started: asyncio.Future[Running] = asyncio.get_running_loop().create_future()
    server = asyncio.create_task(
        run(cfg, ready=started.set_result, stop=stop, check_dns=False, smtp_workers=2)
    )
    running = await asyncio.wait_for(started, 30)
    try:
        victim = running.workers.pids()[0]
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            pids = running.workers.pids()
            if len(pids) == 2 and victim not in pids:
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail(f"worker not restarted: {running.workers.pids()}")
        assert any("smtp worker exited, restarting" in r.getMessage() for r in caplog.records)
        cids = await send(p.port, 20)
        assert {int(c, 16) >> SLOT_SHIFT for c in cids} == {1, 2}
    finally:
        stop.set()
        await asyncio.wait_for(server, 30)


async def test_queued_mail_wakes_the_main_process(
    tmp_path: Path, certs: benchlib.Certs, dns_port: int, storage_backend: Backend
) -> None:
    p = instance(tmp_path, certs, dns_port, storage_backend)
    domains = p.root / "domains.toml"
    domains.write_text(
        domains.read_text() + '\n[domains."bench.test".aliases]\nfwd = ["someone@remote.test"]\n'
    )
    cfg = load_config(p.root)
    stop = asyncio.Event()
    started: asyncio.Future[Running] = asyncio.get_running_loop().create_future()
    server = asyncio.create_task(
        run(cfg, ready=started.set_result, stop=stop, check_dns=False, smtp_workers=2)
    )
    running = await asyncio.wait_for(started, 30)
    woken = asyncio.Event()
    inner = running.workers.on_wake

    def on_wake() -> None:
        woken.set()
        if inner is not None:
            inner()

    running.workers.on_wake = on_wake
    try:
        res = await run_load(
            benchlib.IP, p.port, concurrency=1, count=1, rcpt="fwd@bench.test", id_prefix="fwd"
        )
        assert len(res.acked) == 1, res.summary()
        await asyncio.wait_for(woken.wait(), 2)  # not the queue's 5 s poll
    finally:
        stop.set()
        await asyncio.wait_for(server, 30)


async def test_bind_error_is_reported_before_listening(
    tmp_path: Path, certs: benchlib.Certs, dns_port: int
) -> None:
    p = instance(tmp_path, certs, dns_port)
    cfg = load_config(p.root)
    with (
        socket.create_server((benchlib.IP, p.port)),
        pytest.raises(BindError, match=f"port {p.port}"),
    ):
        await asyncio.wait_for(run(cfg, check_dns=False, smtp_workers=2), 30)


def test_second_serve_on_the_same_port_is_refused(
    tmp_path: Path, certs: benchlib.Certs, dns_port: int
) -> None:
    """SO_REUSEPORT must not let a second instance share the first one's port."""
    first = instance(tmp_path / "a", certs, dns_port)
    first.start()
    try:
        second = benchlib.PostelInstance(tmp_path / "b", certs, dns_port, port=first.port,
                                         smtp_workers=2)  # fmt: skip
        second.write_config()
        done = subprocess.run(
            [benchlib.POSTEL, "serve", "--config", str(second.root)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode != 0
        assert done.stderr.endswith(
            f"error: {benchlib.IP}:{first.port} (listener 'bench' smtp): address already in use "
            "by another program; stop that program or change listeners.bench.smtp.port in "
            f"{second.root.resolve() / 'postel.toml'}\n"
        )
    finally:
        first.stop()


def test_workers_die_with_the_main_process(
    tmp_path: Path, certs: benchlib.Certs, dns_port: int, storage_backend: Backend
) -> None:
    p = instance(tmp_path, certs, dns_port, storage_backend)
    p.start()
    try:
        workers = p.pids()[1:]  # the delivery workers too: every one dies
        assert len(procs.of_kind(workers, "smtp")) == 2
        p.kill9()
        assert p.wait_dead(15) == []
    finally:
        p.stop()  # when an assertion came first


def test_serve_stops_workers_on_sigterm(
    tmp_path: Path, certs: benchlib.Certs, dns_port: int, storage_backend: Backend
) -> None:
    p = instance(tmp_path, certs, dns_port, storage_backend)
    p.start()
    try:
        workers = p.pids()[1:]  # the delivery workers too: every one stops
        assert len(procs.of_kind(workers, "smtp")) == 2
        asyncio.run(run_load(benchlib.IP, p.port, concurrency=4, count=20, id_prefix="t"))
    finally:
        p.stop()  # SIGTERM, waits for the exit
    assert not [pid for pid in workers if alive(pid)]
    log = (p.root / "postel.log").read_text()
    assert "smtp workers stopped" in log
    assert "Traceback" not in log and "Fatal" not in log


async def test_a_delivery_in_a_worker_reaches_a_watcher_of_the_main_process(
    tmp_path: Path, certs: benchlib.Certs, dns_port: int
) -> None:
    """Issue 15 item 2: changes are published across processes; a message stored by
    an SMTP worker is seen by a subscriber in the main process within a second."""
    from postel.store.changes import ChangeKind

    p = instance(tmp_path, certs, dns_port)
    cfg = load_config(p.root)
    stop = asyncio.Event()
    started: asyncio.Future[Running] = asyncio.get_running_loop().create_future()
    server = asyncio.create_task(
        run(cfg, ready=started.set_result, stop=stop, check_dns=False, smtp_workers=2)
    )
    running = await asyncio.wait_for(started, 30)
    try:
        assert os.getpid() not in running.workers.pids()  # SMTP only in the workers
        changes = running.feed.watch("bench").__aiter__()
        first = asyncio.ensure_future(changes.__anext__())
        await asyncio.sleep(0.05)  # subscribed
        for n in range(3):
            await send(p.port, 1)  # 250: stored by a worker
            deadline = time.monotonic() + 1.0
            while True:  # the first message also creates the account's default mailboxes
                change = await asyncio.wait_for(first, max(deadline - time.monotonic(), 0))
                first = asyncio.ensure_future(changes.__anext__())
                if change.kind == ChangeKind.ADDED:
                    break
            assert (change.mailbox, change.uid) == ("Inbox", n + 1)
        first.cancel()
    finally:
        stop.set()
        await asyncio.wait_for(server, 30)
