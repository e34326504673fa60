"""One running owner per data directory.

`postel serve` and `localserve` hold an exclusive flock(2) on
``<data>/postel.lock`` for as long as they run, with their pid written in it.
A second server on the same directory, whatever its ports, is refused before
it opens a listener or starts a loop. The kernel drops the lock when the
process ends, however it ends, so a crash never leaves a stale lock; the pid
in the file is only there to name the owner in the message.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from postel.preflight.errors import StartupError

LOCK_FILE = "postel.lock"


class DataDirInUse(StartupError):
    """Another process owns the data directory, or its lock cannot be made."""


class OwnerLock:
    """Held from :meth:`acquire` until :meth:`release` or the process ends."""

    def __init__(self, root: Path) -> None:
        self.path = Path(root) / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        """Raise DataDirInUse naming the owner's pid when another process holds it."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise DataDirInUse(
                f"{self.path}: {exc.strerror or exc}; the data directory {self.path.parent} "
                "must be writable by the user postel runs as"
            ) from None
        try:
            _lock(fd)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            who = f"pid {pid}" if pid else "another process"
            raise DataDirInUse(
                f"{self.path.parent}: data directory in use by a running postel ({who}); "
                "stop it first, or use another data directory"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.ftruncate(fd, 0)
            os.close(fd)  # closing drops the flock

    @property
    def held(self) -> bool:
        return self._fd is not None


def _lock(fd: int) -> None:
    """flock, tried a few times: running_owner() holds a shared lock for a moment."""
    for _ in range(10):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if _read_pid(fd):  # a server holds it, not a probe
                raise
            time.sleep(0.02)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def running_owner(root: Path) -> int | None:
    """The pid of the process owning *root*, or None when none runs (for the
    CLI, to tell whether to go through a running server)."""
    path = Path(root) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_pid(fd) or -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
