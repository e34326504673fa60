"""Loaded by the `postel serve` processes of the crash test through PYTHONPATH
(test_reliability_inbound.py): widens and records the fsync of message files.

With POSTEL_TEST_FSYNC_LOG set, every os.fsync of a message file (under an
account's directory, or a delivery's file in the data dir's tmp/) first
sleeps POSTEL_TEST_FSYNC_DELAY seconds (widening the window in which a
delivery's index row is committed and its file not yet durable); it
appends "start <inode>" to that log before, and "done <inode>" once the
fsync returned: the files a power cut at a kill would have kept."""

from __future__ import annotations

import os
import stat
import time

_LOG = os.environ.get("POSTEL_TEST_FSYNC_LOG")

if _LOG:
    _delay = float(os.environ.get("POSTEL_TEST_FSYNC_DELAY", "0.2"))
    _real_fsync = os.fsync

    def _fsync(fd: int) -> None:  # type: ignore[misc]
        st = os.fstat(fd)
        try:
            where = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            where = ""
        message = stat.S_ISREG(st.st_mode) and ("/data/accounts/" in where or "/data/tmp/" in where)
        if message:
            _note(f"start {st.st_ino}")
            time.sleep(_delay)
        _real_fsync(fd)
        if message:
            _note(f"done {st.st_ino}")

    def _note(line: str) -> None:
        out = os.open(_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(out, f"{line}\n".encode())
        finally:
            os.close(out)

    os.fsync = _fsync
