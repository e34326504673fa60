"""`postel serve` opens each database of the data directory once, however
many parts use it: SMTP, IMAP and the web share auth.db, delivery and the
webmail the MTA-STS cache, the queue and the daily reports the TLS results."""

from __future__ import annotations

import asyncio
import imaplib
import smtplib
import ssl
from pathlib import Path

import httpx
import pytest
from wiring_env import counting_connections, write_config

from postel.config import load_config
from postel.server import Running, run
from postel.store.credentials import Credentials

pytestmark = pytest.mark.timeout(90)

PASSWORD = "wiring test password"


def _client_tls() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the test's self-signed certificate
    return ctx


def _use_every_part(bound: list[tuple[str, int, str]]) -> None:
    ports = {kind: port for _, port, kind in bound}
    with smtplib.SMTP("127.0.0.1", ports["smtp"], local_hostname="client.example", timeout=20) as c:
        c.sendmail("someone@sender.test", ["alice@example.org"], b"Subject: hi\r\n\r\nhello\r\n")
    with smtplib.SMTP("127.0.0.1", ports["submission"], timeout=20) as c:
        c.starttls(context=_client_tls())
        c.login("alice@example.org", PASSWORD)
    imap = imaplib.IMAP4("127.0.0.1", ports["imap"], timeout=20)
    try:
        imap.starttls(_client_tls())
        imap.login("alice@example.org", PASSWORD)
        imap.select("INBOX")
        imap.fetch("1", "(BODY.PEEK[])")
    finally:
        imap.logout()
    web = ports.get("webmail") or ports["admin"]
    with httpx.Client(base_url=f"http://127.0.0.1:{web}", timeout=20) as client:
        assert client.get("/webmail/login").status_code == 200
        assert client.get("/admin/").status_code in (200, 303, 401)


async def test_each_database_is_opened_once(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path / "config"))
    cfg.datadir.ensure()
    with Credentials(cfg.datadir.auth_db) as creds:
        creds.set_password("alice", PASSWORD)
    stop = asyncio.Event()
    started: asyncio.Future[Running] = asyncio.get_running_loop().create_future()
    with counting_connections() as opened:
        server = asyncio.create_task(run(cfg, ready=started.set_result, stop=stop, check_dns=False))
        done, _ = await asyncio.wait(
            [server, started], timeout=30, return_when=asyncio.FIRST_COMPLETED
        )
        assert started in done, server.exception() if server.done() else "not started"
        try:
            await asyncio.to_thread(_use_every_part, started.result().bound)
        finally:
            stop.set()
            await asyncio.wait_for(server, 30)
    root = str(cfg.datadir.root) + "/"
    counts = {name.removeprefix(root): n for name, n in opened.items() if name.startswith(root)}
    assert counts.pop("accounts/alice/index.db") == 1
    # auth.db: the passwords (Credentials) and the login limits (LoginLimiter),
    # one of each for SMTP, IMAP and the web together.
    assert counts.pop("auth.db") == 2
    # junk.db: the filter's counts, and the filing records written apart from
    # them without a sync per commit (docs/junk.md), so that a filing never
    # waits for the records of earlier ones.
    assert counts.pop("accounts/alice/junk.db", 2) == 2
    assert counts == dict.fromkeys(counts, 1), counts
    assert {"mtasts.db", "tlsrptresult.db", "queue/index.db"} <= set(counts)
