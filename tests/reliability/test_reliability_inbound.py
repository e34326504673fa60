"""kill -9 of `postel serve` under inbound load: every message that got 250 is
in the store exactly once after the restart; none is stored twice."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import threading
from pathlib import Path

import benchlib
import pytest
from loadclient import run_load

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def stored_ids(data: Path) -> dict[str, int]:
    """Message-ID -> number of index rows, over every account's store."""
    counts: dict[str, int] = {}
    for db in sorted((data / "accounts").glob("*/index.db")):
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            for (mid,) in conn.execute("SELECT message_id FROM message"):
                key = (mid or "").strip("<>")
                counts[key] = counts.get(key, 0) + 1
    return counts


def missing_files(data: Path) -> list[str]:
    """Index rows whose message file is not there."""
    from postel.datadir import message_path

    out = []
    for db in sorted((data / "accounts").glob("*/index.db")):
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            for (msgid,) in conn.execute("SELECT id FROM message"):
                if not message_path(db.parent, int(msgid)).is_file():
                    out.append(f"{db.parent.name}/{msgid}")
    return out


def load_until_killed(
    postel: benchlib.PostelInstance, kill_after_acks: int, prefix: str
) -> tuple[list[str], int]:
    """Run 10 clients; kill -9 the server once *kill_after_acks* messages got 250."""
    acked: list[str] = []
    killed = threading.Event()

    def on_ack(msgid: str) -> None:
        acked.append(msgid)
        if len(acked) >= kill_after_acks and not killed.is_set():
            killed.set()
            postel.kill9()  # from the event loop thread: right after a 250 arrived

    result = asyncio.run(
        run_load(
            benchlib.IP,
            postel.port,
            concurrency=10,
            seconds=30,
            size=20_000,
            id_prefix=prefix,
            on_ack=on_ack,
            timeout=10,
            stop_after_errors=20,
        )
    )
    assert killed.is_set(), f"only {len(acked)} messages acknowledged: {result.summary()}"
    # SMTP worker processes die with the main process (PR_SET_PDEATHSIG).
    assert postel.wait_dead(15) == [], "SMTP workers outlived the killed main process"
    return result.acked, result.sent


def test_kill9_under_inbound_load(tmp_path: Path, dns_port: int, certs: benchlib.Certs) -> None:
    # Two SMTP worker processes: the kill -9 hits the main process, they die with it.
    postel = benchlib.PostelInstance(tmp_path / "postel", certs, dns_port, smtp_workers=2)
    postel.start()
    all_acked: list[str] = []
    try:
        for round_ in range(2):  # kill twice: also a restarted server under load
            acked, sent = load_until_killed(postel, 40 + 30 * round_, f"r{round_}")
            all_acked += acked
            assert sent >= len(acked)
            postel.start()
        # The restarted server takes mail again.
        after = asyncio.run(
            run_load(benchlib.IP, postel.port, concurrency=2, count=10, id_prefix="after")
        )
        assert len(after.acked) == 10, after.summary()
        all_acked += after.acked
    finally:
        postel.stop()
    counts = stored_ids(postel.data)
    for msgid in all_acked:
        assert counts.get(msgid) == 1, f"{msgid}: acknowledged, stored {counts.get(msgid, 0)}x"
    twice = {k: v for k, v in counts.items() if v > 1}
    assert not twice, f"stored more than once: {twice}"
    assert missing_files(postel.data) == []
    done = subprocess.run(
        [benchlib.POSTEL, "verifydata", str(postel.data)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_loadclient_counts_every_ack(tmp_path: Path, dns_port: int, certs: benchlib.Certs) -> None:
    """Without a crash every acknowledged message is stored once (the counting
    the crash test relies on)."""
    postel = benchlib.PostelInstance(tmp_path / "postel", certs, dns_port)
    postel.start()
    try:
        res = asyncio.run(
            run_load(
                benchlib.IP, postel.port, concurrency=5, count=50, id_prefix="plain", starttls=True
            )
        )
    finally:
        postel.stop()
    assert len(res.acked) == 50, res.summary()
    counts = stored_ids(postel.data)
    assert all(counts.get(m) == 1 for m in res.acked)
