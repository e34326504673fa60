"""The login limiter across SMTP worker processes: `postel serve` with [limits]
smtp_workers = 2 on 127.0.0.1 and submissions (465) enabled; wrong AUTH PLAIN
guesses from one client over many connections, which the kernel spreads over
both workers (SO_REUSEPORT)."""

from __future__ import annotations

import asyncio
import base64
import smtplib
import ssl
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import benchlib  # noqa: E402
from storagebackend import Backend  # noqa: E402

from postel.config import load_config  # noqa: E402
from postel.server import Running, run  # noqa: E402

pytestmark = pytest.mark.integration

PASSWORD = "bench-Secret-4a1f"


@pytest.fixture(scope="module")
def dns_port() -> Iterator[int]:
    with benchlib.dns_stub() as port:
        yield port


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> benchlib.Certs:
    return benchlib.make_certs(tmp_path_factory.mktemp("certs"))


def _guess(port: int, ctx: ssl.SSLContext, password: str) -> int:
    c = smtplib.SMTP_SSL(benchlib.IP, port, local_hostname="guesser", timeout=20, context=ctx)
    try:
        c.ehlo()
        plain = base64.b64encode(f"\0rcpt@bench.test\0{password}".encode()).decode()
        return c.docmd("AUTH", "PLAIN " + plain)[0]
    finally:
        c.close()


async def test_guesses_through_two_workers_share_one_count(
    tmp_path: Path, certs: benchlib.Certs, dns_port: int, storage_backend: Backend
) -> None:
    """On PostgreSQL too: the counts stay the node's (auth.db), the password is
    the database's."""
    p = benchlib.PostelInstance(tmp_path / "postel", certs, dns_port, smtp_workers=2)
    p.write_config()
    port = benchlib.free_port()
    toml = p.root / "postel.toml"
    text = toml.read_text().replace(
        "submissions = { enabled = false }", f"submissions = {{ port = {port} }}"
    )
    # A long first delay: no further guess becomes due while the test runs.
    toml.write_text(text + "\n[login_limit]\nfirst_delay = 600.0\n")
    storage_backend.configure(p.root, {"bench": PASSWORD})
    cfg = load_config(p.root)
    stop = asyncio.Event()
    started: asyncio.Future[Running] = asyncio.get_running_loop().create_future()
    server = asyncio.create_task(
        run(cfg, ready=started.set_result, stop=stop, check_dns=False, smtp_workers=2)
    )
    await asyncio.wait_for(started, 30)
    ctx = ssl.create_default_context(cafile=str(certs.ca))
    codes: list[int] = []
    lock = threading.Lock()

    def guesser() -> None:
        for _ in range(5):
            code = _guess(port, ctx, "wrong")
            with lock:
                codes.append(code)

    try:
        threads = [threading.Thread(target=guesser) for _ in range(8)]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            await asyncio.sleep(0.05)
        # The right password from the same client waits too; from no worker is it checked.
        right = await asyncio.to_thread(_guess, port, ctx, PASSWORD)
    finally:
        stop.set()
        await asyncio.wait_for(server, 30)
    # Before: every guess was checked (each worker, each connection its own count).
    assert codes.count(535) == 5, codes
    assert codes.count(454) == 35
    assert right == 454
