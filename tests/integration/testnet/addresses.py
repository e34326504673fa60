"""A loopback /24 of our own: 127.<a>.<b>.0/24 derived from the pid, locked per process."""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from pathlib import Path
from typing import IO

LOCK_DIR = Path("/tmp/postel-testnet-locks")

# Host numbers inside the /24.
KNOT = 1
UNBOUND = 2
HTTPS = 3
FIRST_FREE = 10


class Block:
    """127.a.b.0/24, held by a lock file until ``release``."""

    def __init__(self, a: int, b: int, lock: IO[bytes]) -> None:
        self.a = a
        self.b = b
        self._lock: IO[bytes] | None = lock

    @property
    def prefix(self) -> str:
        return f"127.{self.a}.{self.b}"

    def ip(self, n: int) -> str:
        if not 1 <= n <= 254:
            raise ValueError(f"host number {n} outside 1..254")
        return f"{self.prefix}.{n}"

    def release(self) -> None:
        if self._lock is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None


def _free(ip: str, port: int, kind: socket.SocketKind) -> bool:
    s = socket.socket(socket.AF_INET, kind)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((ip, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def allocate(pid: int | None = None, tries: int = 64) -> Block:
    """Pick 127.a.b.0/24 (a 1..254, never 127.0.x) from the pid; skip blocks that
    another process holds (lock file) or whose ports are taken."""
    LOCK_DIR.mkdir(mode=0o777, parents=True, exist_ok=True)
    start = (pid if pid is not None else os.getpid()) % (254 * 256)
    for i in range(tries):
        idx = (start + i * 257) % (254 * 256)
        a, b = idx // 256 + 1, idx % 256
        lock = open(LOCK_DIR / f"127.{a}.{b}.lock", "wb")  # noqa: SIM115
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            continue
        block = Block(a, b, lock)
        if (
            _free(block.ip(KNOT), 53, socket.SOCK_DGRAM)
            and _free(block.ip(UNBOUND), 53, socket.SOCK_DGRAM)
            and _free(block.ip(HTTPS), 443, socket.SOCK_STREAM)
        ):
            return block
        block.release()
    raise RuntimeError(f"no free loopback /24 for the test network after {tries} tries")
