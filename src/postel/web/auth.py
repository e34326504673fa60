"""Admin password check and the login rate limit."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import Callable
from pathlib import Path

from postel.store.errors import CredentialsError
from postel.store.passwords import scrypt_verify

log = logging.getLogger("postel.web")

MAX_FAILURES = 5
WINDOW_SECONDS = 60.0
MAX_TRACKED = 50_000


def client_key(host: str | None) -> str:
    """Rate-limit key of a client address: the IPv4 address, or the IPv6 /64."""
    if not host:
        return "?"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
    return str(ip)


class LoginLimiter:
    """At most *max_failures* failed logins per client within *window* seconds."""

    def __init__(
        self,
        max_failures: int = MAX_FAILURES,
        window: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self.clock = clock
        self._failures: dict[str, list[float]] = {}

    def _recent(self, key: str, now: float) -> list[float]:
        times = [t for t in self._failures.get(key, []) if now - t < self.window]
        if times:
            self._failures[key] = times
        else:
            self._failures.pop(key, None)
        return times

    def retry_after(self, key: str) -> float:
        """Seconds until *key* may try again; 0 when it may now."""
        now = self.clock()
        times = self._recent(key, now)
        if len(times) < self.max_failures:
            return 0.0
        return max(0.0, times[-self.max_failures] + self.window - now)

    def failure(self, key: str) -> None:
        now = self.clock()
        if len(self._failures) >= MAX_TRACKED:
            for k in list(self._failures):
                self._recent(k, now)
        self._failures.setdefault(key, []).append(now)

    def success(self, key: str) -> None:
        self._failures.pop(key, None)


def _read_hash(path: Path) -> str:
    lines = path.read_text(encoding="utf-8").splitlines()
    return lines[0].strip() if lines else ""


def check_admin_password_sync(path: Path, password: str) -> bool:
    """Does *password* match the scrypt hash in *path*? False (logged) when the file
    is missing or malformed: nobody can log in then."""
    try:
        encoded = _read_hash(path)
    except OSError as exc:
        log.error("admin password file unreadable", extra={"file": str(path), "err": str(exc)})
        return False
    if not encoded:
        log.error("admin password file is empty", extra={"file": str(path)})
        return False
    try:
        return scrypt_verify(password, encoded)
    except CredentialsError as exc:
        log.error("admin password file malformed", extra={"file": str(path), "err": str(exc)})
        return False


async def check_admin_password(path: Path, password: str) -> bool:
    """As check_admin_password_sync, off the event loop (scrypt takes CPU time)."""
    return await asyncio.to_thread(check_admin_password_sync, path, password)
