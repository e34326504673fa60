"""Backups of a running server under delivery load verify OK every time: an
in-process SMTP service receives mail from a load generator (and messages
are removed meanwhile) while `postel backup` runs as a separate process
several times; `postel verifydata` checks each copy."""

from __future__ import annotations

import asyncio
import random
import smtplib
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import trustme

from postel.config import load_config
from postel.dns.mock import MockResolver
from postel.smtpserver import LocalSubmitter, SMTPService
from postel.store.store import Store

pytestmark = pytest.mark.integration

STATIC = """
hostname = "mail.example.org"
data_dir = "../data"
postmaster_account = "alice"

[listeners.local]
ips = ["127.0.0.1"]
tls_cert_file = "cert.pem"
tls_key_file = "key.pem"
smtp = { port = 0 }
submission = { enabled = false }
submissions = { enabled = false }
"""

DOMAINS = """
[domains."example.org"]

[accounts.alice]
domain = "example.org"
addresses = ["alice@example.org"]

[accounts.bob]
domain = "example.org"
addresses = ["bob@example.org"]
"""

RECORDS: dict[tuple[str, str], list[str]] = {
    ("sender.test", "TXT"): ['"v=spf1 ip4:127.0.0.1 -all"'],
}

POSTEL = [sys.executable, "-c", "from postel.cli.main import main; main()"]


class Server:
    """The SMTP service on its own event loop in a thread."""

    def __init__(self, config_dir: Path) -> None:
        self.cfg = load_config(config_dir)
        self.cfg.datadir.ensure()
        self.port = 0
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self.error: BaseException | None = None

    async def _main(self) -> None:
        try:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            store = Store(self.cfg.datadir)
            service = SMTPService(
                self.cfg, store, MockResolver(dict(RECORDS)), LocalSubmitter(self.cfg, store)
            )
            await service.start()
            self.port = next(p for _ip, p, kind in service.bound if kind == "smtp")
            self._ready.set()
            await self._stop.wait()
            await service.stop()
            store.close()
        except BaseException as exc:
            self.error = exc
            self._ready.set()
            raise

    def __enter__(self) -> Server:
        self._thread.start()
        assert self._ready.wait(30)
        if self.error is not None:
            raise self.error
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)


def _deliver(port: int, stop: threading.Event, counts: dict[str, int]) -> None:
    n = 0
    while not stop.is_set():
        try:
            with smtplib.SMTP(
                "127.0.0.1", port, local_hostname="client.sender.test", timeout=20
            ) as c:
                for _ in range(10):
                    n += 1
                    rcpt = "alice@example.org" if n % 3 else "bob@example.org"
                    body = (
                        f"From: load@sender.test\r\nTo: {rcpt}\r\nSubject: load {n}\r\n"
                        f"Message-ID: <load-{n}@sender.test>\r\n\r\n"
                        + "line of text\r\n"
                        * (n % 50)
                    )
                    c.sendmail("load@sender.test", [rcpt], body.encode())
                    counts["sent"] += 1
        except smtplib.SMTPException as exc:  # counted; the test fails on any
            counts["errors"] += 1
            counts.setdefault("last_error", 0)
            print("delivery error:", exc)


def _remove(datadir: Path, stop: threading.Event, counts: dict[str, int]) -> None:
    """Remove messages now and then, as an IMAP client expunging would."""
    from postel.datadir import DataDir

    rng = random.Random(7)
    with Store(DataDir(datadir)) as store:
        while not stop.is_set():
            time.sleep(0.05)
            acc = store.account("alice")
            msgs = acc.list_messages("Inbox", limit=20)
            if len(msgs) > 5:
                acc.remove(rng.choice(msgs).msgid)
                counts["removed"] += 1


def test_backup_under_delivery_load(tmp_path: Path) -> None:
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    ca = trustme.CA()
    cert = ca.issue_cert("mail.example.org", "127.0.0.1")
    cert.private_key_pem.write_to_path(str(config_dir / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(config_dir / "cert.pem"))
    (config_dir / "postel.toml").write_text(STATIC)
    (config_dir / "domains.toml").write_text(DOMAINS)

    counts = {"sent": 0, "errors": 0, "removed": 0}
    stop = threading.Event()
    with Server(config_dir) as server:
        workers = [
            threading.Thread(target=_deliver, args=(server.port, stop, counts), daemon=True)
            for _ in range(3)
        ]
        workers.append(
            threading.Thread(
                target=_remove, args=(server.cfg.datadir.root, stop, counts), daemon=True
            )
        )
        for w in workers:
            w.start()
        backed_up: list[int] = []
        try:
            time.sleep(1)
            for i in range(5):
                dest = tmp_path / f"backup-{i}"
                before = counts["sent"]
                done = subprocess.run(
                    [*POSTEL, "backup", "--config", str(config_dir), str(dest)],
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                assert done.returncode == 0, done.stdout + done.stderr
                assert " ok: " in done.stdout.strip().splitlines()[-1], done.stdout
                assert counts["sent"] > before or i == 0  # load kept running
                check = subprocess.run(
                    [*POSTEL, "verifydata", str(dest / "data")],
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                assert check.returncode == 0, check.stdout + check.stderr
                assert check.stdout == f"{dest / 'data'}: OK\n"
                backed_up.append(
                    sum(1 for p in (dest / "data" / "accounts").rglob("msg/*/*") if p.is_file())
                )
                time.sleep(0.3)
        finally:
            stop.set()
            for w in workers:
                w.join(30)
    assert counts["errors"] == 0
    assert counts["sent"] > 50 and counts["removed"] > 0
    assert backed_up[-1] > backed_up[0] > 0
    # The live data itself is consistent once the load has stopped.
    final = subprocess.run(
        [*POSTEL, "verifydata", str(tmp_path / "data")], capture_output=True, text=True, timeout=120
    )
    assert final.returncode == 0, final.stdout
