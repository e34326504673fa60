"""Admin password check (the login limit is postel.loginlimit, shared with SMTP)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from postel.store.errors import CredentialsError
from postel.store.passwords import scrypt_verify

log = logging.getLogger("postel.web")


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
