"""kill -9 of `postel serve` under inbound load: every message that got 250 is
in the store exactly once after the restart; none is stored twice."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import threading
import time
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


HOOK = Path(__file__).resolve().parent / "fsynchook"


def rows_by_inode(data: Path) -> list[tuple[Path, int, str, int]]:
    """(account dir, msgid, Message-ID, inode of its file) of every index row."""
    from postel.datadir import message_path

    out = []
    for db in sorted((data / "accounts").glob("*/index.db")):
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            for msgid, mid in conn.execute("SELECT id, message_id FROM message"):
                path = message_path(db.parent, int(msgid))
                ino = path.stat().st_ino if path.exists() else -1
                out.append((db.parent, int(msgid), (mid or "").strip("<>"), ino))
    return out


def test_kill9_while_files_sync_during_the_commit(
    tmp_path: Path, dns_port: int, certs: benchlib.Certs
) -> None:
    """A kill -9 while deliveries' index rows are committed and their files
    still being fsynced (the window widened to 0.3 s by fsynchook), then a
    power cut simulated: every message file whose fsync had not returned is
    lost (deleted, or cut to 10 bytes). Nothing that got 250 is lost; the
    recovery pass at the next start removes the other rows, one log line
    each, and verifydata is clean."""
    from postel.datadir import message_path

    fsynced_log = tmp_path / "fsynced"
    postel = benchlib.PostelInstance(tmp_path / "postel", certs, dns_port, smtp_workers=2)
    postel.env = {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(HOOK), os.environ.get("PYTHONPATH")])),
        "POSTEL_TEST_FSYNC_LOG": str(fsynced_log),
        "POSTEL_TEST_FSYNC_DELAY": "0.3",
    }
    postel.start()
    acked: list[str] = []
    killed = threading.Event()

    def fsyncs() -> tuple[set[int], set[int]]:
        """Inodes whose fsync started, and those whose fsync returned."""
        lines = fsynced_log.read_text().split("\n") if fsynced_log.exists() else []
        pairs = [line.split() for line in lines if line]
        return {int(i) for k, i in pairs if k == "start"}, {int(i) for k, i in pairs if k == "done"}

    def kill_inside_the_window() -> None:
        # Once a file's fsync sleeps, its row commits meanwhile: kill then.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            started, done = fsyncs()
            if started - done:
                time.sleep(0.1)
                break
            time.sleep(0.005)
        # A power cut stops every process at once (the workers would otherwise
        # finish their deliveries on the SIGTERM of their parent's death).
        for pid in postel.pids():
            os.kill(pid, signal.SIGKILL)
        postel.kill9()

    def on_ack(msgid: str) -> None:
        acked.append(msgid)
        if len(acked) >= 15 and not killed.is_set():
            killed.set()
            threading.Thread(target=kill_inside_the_window).start()

    try:
        result = asyncio.run(
            run_load(
                benchlib.IP,
                postel.port,
                concurrency=10,
                seconds=30,
                size=5_000,
                id_prefix="w",
                on_ack=on_ack,
                timeout=10,
                stop_after_errors=20,
            )
        )
        assert killed.is_set(), f"only {len(acked)} acknowledged: {result.summary()}"
        assert postel.wait_dead(15) == [], "SMTP workers outlived the killed main process"
        durable = fsyncs()[1]
        lost = [r for r in rows_by_inode(postel.data) if r[3] not in durable]
        assert lost, "the kill hit no delivery between its commit and its file's fsync"
        assert not [r[2] for r in lost if r[2] in result.acked], "acknowledged, not durable"
        for i, (account_dir, msgid, _mid, _ino) in enumerate(lost):
            path = message_path(account_dir, msgid)
            if i % 2:
                path.unlink()
            else:
                os.truncate(path, 10)
        before = subprocess.run(
            [benchlib.POSTEL, "verifydata", str(postel.data)], capture_output=True, text=True
        )
        assert before.returncode == 0, before.stdout + before.stderr
        postel.env = {}
        postel.start()
        after = asyncio.run(
            run_load(benchlib.IP, postel.port, concurrency=2, count=5, id_prefix="after")
        )
        assert len(after.acked) == 5, after.summary()
    finally:
        postel.stop()
    log = (postel.root / "postel.log").read_text()
    removed = [line for line in log.splitlines() if "index row without its whole file" in line]
    assert len(removed) == len(lost)
    for _dir, msgid, _mid, _ino in lost:
        assert any(f"msgid={msgid} " in line or line.endswith(f"msgid={msgid}") for line in removed)
    counts = stored_ids(postel.data)
    for msgid in [*result.acked, *after.acked]:
        assert counts.get(msgid) == 1, f"{msgid}: acknowledged, stored {counts.get(msgid, 0)}x"
    assert missing_files(postel.data) == []
    done = subprocess.run(
        [benchlib.POSTEL, "verifydata", str(postel.data)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "never acknowledged" not in done.stdout
    # The clean stop raised the checkpoint over everything: the next start checks nothing.
    for db in (postel.data / "accounts").glob("*/index.db"):
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            (top,) = conn.execute("SELECT COALESCE(MAX(id), 0) FROM message").fetchone()
            (mark,) = conn.execute(
                "SELECT value FROM meta WHERE key = 'files_checked_through'"
            ).fetchone()
        assert mark == top
