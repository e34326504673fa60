"""The node's local copies of message bodies (``pg-bodies/``), bounded.

IMAP and the webmail read a body from a file named by its SHA-256, written on
first use (postel.pg.syncstore). Copies are never needed: one that is gone is
fetched again. trim_body_cache removes the copies whose body row is gone, then
the least recently used ones until the copies fit in the bound. A read of a
copy marks it used (its mtime, at most once per TOUCH_AFTER), so that the
order does not depend on how the file system keeps access times.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from psycopg_pool import AsyncConnectionPool

from postel.pg.pool import Conn
from postel.pg.rows import col_bytes

log = logging.getLogger("postel.pg")

TOUCH_AFTER = 600.0  # seconds: a copy read again later is marked used again
TEMP_AGE = 3600.0  # seconds: a temporary file this old was left by a crash
LOOKUP_BATCH = 1000  # digests asked about per query


def copy_path(root: Path, digest: bytes) -> Path:
    """Where the copy of the body *digest* is kept under *root*."""
    name = digest.hex()
    return root / name[:2] / name


def mark_used(path: Path, mtime: float) -> None:
    """Mark the copy at *path* (last marked at *mtime*) as used now."""
    if time.time() - mtime > TOUCH_AFTER:
        with contextlib.suppress(OSError):  # removed meanwhile: read again next time
            os.utime(path)


@dataclass(frozen=True)
class Copy:
    path: Path
    digest: bytes
    size: int
    used: float


@dataclass
class CacheTrim:
    """What one trim found and did: copies and their bytes before, copies
    removed because their body is gone, copies evicted for room, bytes after."""

    copies: int = 0
    bytes_before: int = 0
    gone: int = 0
    evicted: int = 0
    bytes_after: int = 0


def list_copies(root: Path) -> list[Copy]:
    """The copies under *root* (temporary files left by a crash are removed)."""
    found: list[Copy] = []
    try:
        subdirs = list(os.scandir(root))
    except FileNotFoundError:
        return found
    now = time.time()
    for sub in subdirs:
        if not sub.is_dir(follow_symlinks=False) or len(sub.name) != 2:
            continue
        for entry in os.scandir(sub.path):
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if entry.name.startswith(".tmp-"):
                if now - st.st_mtime > TEMP_AGE:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.path)
                continue
            try:
                digest = bytes.fromhex(entry.name)
            except ValueError:
                continue
            if len(digest) == 32 and entry.is_file(follow_symlinks=False):
                used = max(st.st_atime, st.st_mtime)
                found.append(Copy(Path(entry.path), digest, st.st_size, used))
    return found


def _remove(paths: list[Path]) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


async def _known(pool: AsyncConnectionPool[Conn], digests: list[bytes]) -> set[bytes]:
    known: set[bytes] = set()
    async with pool.connection() as conn:
        for i in range(0, len(digests), LOOKUP_BATCH):
            cur = await conn.execute(
                "SELECT sha256 FROM body WHERE sha256 = ANY(%s)", (digests[i : i + LOOKUP_BATCH],)
            )
            known.update(col_bytes(r[0]) for r in await cur.fetchall())
    return known


async def trim_body_cache(pool: AsyncConnectionPool[Conn], root: Path, max_bytes: int) -> CacheTrim:
    """Remove the copies under *root* whose body row is gone, then the least
    recently used until at most *max_bytes* are kept. A session reading a
    removed copy keeps its open file; the next open fetches the body again."""
    copies = await asyncio.to_thread(list_copies, root)
    trim = CacheTrim(copies=len(copies), bytes_before=sum(c.size for c in copies))
    known = await _known(pool, [c.digest for c in copies]) if copies else set()
    kept: list[Copy] = []
    gone: list[Path] = []
    for c in copies:
        if c.digest in known:
            kept.append(c)
        else:
            gone.append(c.path)
    trim.gone = len(gone)
    total = sum(c.size for c in kept)
    evict: list[Path] = []
    for c in sorted(kept, key=lambda c: c.used):
        if total <= max_bytes:
            break
        evict.append(c.path)
        total -= c.size
    trim.evicted = len(evict)
    trim.bytes_after = total
    if gone or evict:
        await asyncio.to_thread(_remove, [*gone, *evict])
        log.info(
            "body copies trimmed",
            extra={
                "cache": str(root),
                "copies": trim.copies,
                "gone": trim.gone,
                "evicted": trim.evicted,
                "bytes_after": trim.bytes_after,
                "bound": max_bytes,
            },
        )
    return trim
