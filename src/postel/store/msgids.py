"""Message ids reserved before the index transaction, and the recovery of
files whose delivery never committed.

A delivery takes its message id before it takes the writer lock, so the file
can be placed at msg/<bucket>/<id> and made durable (file and directory)
outside the lock; the lock then only covers the index commit
(shared/DESIGN.md "Data directory": file, directory, row, in that order).

Two small files next to index.db hold this:

- ``index.db-ids``: the next free id and the id below which recovery has
  looked, two 64-bit little-endian integers, changed under an exclusive
  flock(2) held for microseconds. It only ever grows; when it is missing or
  behind the index (a restored backup), the index's highest id wins.
- ``index.db-inflight``: every process holds a shared flock on it from taking
  ids until their rows are committed or their files removed. Recovery takes it
  exclusively without waiting: when it gets it, no delivery is in flight, so a
  file with a reserved id and no row was left by a process that died.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

IDS_SUFFIX = "-ids"
INFLIGHT_SUFFIX = "-inflight"
_RECORD = struct.Struct("<QQ")  # next free id, recovered below


class MsgIds:
    """The id counter and in-flight lock of one account index (*db*)."""

    def __init__(self, db: Path, floor: int) -> None:
        """*floor* is the lowest id the index had not used when it was opened."""
        self._db = db
        self._floor = floor
        self._lock = threading.Lock()  # guards _holders and _take
        self._holders = 0  # reservations of this process in flight
        flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC
        self._ids_fd = os.open(f"{db}{IDS_SUFFIX}", flags, 0o600)
        try:
            self._inflight_fd = os.open(f"{db}{INFLIGHT_SUFFIX}", flags, 0o600)
        except BaseException:
            os.close(self._ids_fd)
            raise

    def close(self) -> None:
        os.close(self._ids_fd)
        os.close(self._inflight_fd)

    def _read(self) -> tuple[int, int]:
        data = os.pread(self._ids_fd, _RECORD.size, 0)
        if len(data) < _RECORD.size:
            return 0, 0
        nxt, below = _RECORD.unpack(data)
        return int(nxt), int(below)

    def _write(self, nxt: int, below: int) -> None:
        os.pwrite(self._ids_fd, _RECORD.pack(nxt, below), 0)

    @contextlib.contextmanager
    def reserve(self, count: int) -> Iterator[list[int]]:
        """*count* new ids, in flight until the block ends (their rows must be
        committed or their files removed by then)."""
        with self._lock:  # flock does not exclude threads sharing the fd
            if self._holders == 0:
                fcntl.flock(self._inflight_fd, fcntl.LOCK_SH)
            self._holders += 1
            try:
                ids = self._take(count) if count else []
            except BaseException:
                self._release()
                raise
        try:
            yield ids
        finally:
            with self._lock:
                self._release()

    def _release(self) -> None:
        self._holders -= 1
        if self._holders == 0:
            fcntl.flock(self._inflight_fd, fcntl.LOCK_UN)

    def _take(self, count: int) -> list[int]:
        fcntl.flock(self._ids_fd, fcntl.LOCK_EX)
        try:
            nxt, below = self._read()
            nxt = max(nxt, self._floor)  # a new, lost or restored counter
            self._write(nxt + count, below)
        finally:
            fcntl.flock(self._ids_fd, fcntl.LOCK_UN)
        return list(range(nxt, nxt + count))

    @contextlib.contextmanager
    def quiet(self) -> Iterator[tuple[int, int] | None]:
        """The range of ids reserved since the last recovery, (low, high), with
        no delivery in flight in any process until the block ends; None when
        deliveries are in flight (recovery is then left for later). The range
        counts as recovered when the block ends without an error."""
        fd = os.open(f"{self._db}{INFLIGHT_SUFFIX}", os.O_RDWR | os.O_CLOEXEC)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield None
                return
            nxt, below = self._read()  # nobody reserves while we hold the lock
            yield (below, nxt)
            if below < nxt:
                fcntl.flock(self._ids_fd, fcntl.LOCK_EX)
                try:
                    self._write(nxt, nxt)
                finally:
                    fcntl.flock(self._ids_fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
