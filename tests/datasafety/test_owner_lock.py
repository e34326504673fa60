"""One owner per data directory: a second server on the same
data directory is refused before it opens a listener or starts a loop, and
says which process owns it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from postel.config import load_config
from postel.localserve import ensure_local_config
from postel.owner import DataDirInUse, OwnerLock, running_owner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

HOLD = """
import sys, time
from postel.owner import OwnerLock
lock = OwnerLock(sys.argv[1]); lock.acquire()
print("held", flush=True)
time.sleep(60)
"""


def _holder(root: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(root)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_second_owner_is_refused_and_named(tmp_path: Path) -> None:
    proc = _holder(tmp_path)
    try:
        assert running_owner(tmp_path) == proc.pid
        with pytest.raises(DataDirInUse, match=f"in use by a running postel \\(pid {proc.pid}\\)"):
            OwnerLock(tmp_path).acquire()
    finally:
        proc.kill()
        proc.wait()
    # the kernel dropped the lock with the process: no stale lock after a kill
    assert running_owner(tmp_path) is None
    lock = OwnerLock(tmp_path)
    lock.acquire()
    assert lock.held and running_owner(tmp_path) == os.getpid()
    lock.release()
    assert running_owner(tmp_path) is None


def test_no_lock_file_means_no_owner(tmp_path: Path) -> None:
    assert running_owner(tmp_path) is None


@pytest.mark.integration
def test_second_localserve_is_refused_before_binding(tmp_path: Path) -> None:
    from serverthread import serving

    ip = f"127.{os.getpid() % 200 + 20}.{int(time.time()) % 250 + 1}.9"
    info = ensure_local_config(tmp_path, ip)
    cfg = load_config(info.config_dir)
    with serving(cfg) as running:
        assert running.bound
        started = time.monotonic()
        second = subprocess.run(
            [sys.executable, "-m", "postel", "localserve", "--dir", str(tmp_path)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        took = time.monotonic() - started
    assert second.returncode == 1, second
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and f"(pid {os.getpid()})" in lines[0], second.stderr
    assert "data directory in use by a running postel" in lines[0]
    assert "listening" not in second.stdout + second.stderr  # refused before any listener
    assert took < 30
