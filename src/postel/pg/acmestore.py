"""ACME on the PostgreSQL store: one account, one pair of host keys and their
certificates for all nodes, ordered by one node at a time.

The database holds what a SQLite node's files hold (postel.acme.storage,
tables acme_account and acme_host_key): the same PEM and JSON, the private
keys unencrypted as the files are, so the database's access control and its
backups guard them as the data directory's file modes do. Each node keeps its
files as its copy: the listeners (the SMTP workers too) load files and follow
them (postel.tlsreload), so a certificate another node ordered reaches them
when :meth:`PgCertStore.pull` writes it here.

- The first node to start shares its keys; a node finding keys shared takes
  them (:meth:`PgCertStore.setup`): every node presents the same certificate,
  and the host's TLSA 3 1 1 records fit every node.
- An order runs under the session advisory lock ACME_ORDER_LOCK
  (:meth:`PgCertStore.exclusive`); the node then publishes the new chains and
  notifies on CHANNEL, and every node's :meth:`PgCertStore.follow` copies them
  into its files. Notifications lost while a connection is down are made up
  by a look every *poll* seconds.
- Challenges being answered (postel.pg.acmechallenges) are in the database
  too, so the node the CA reaches answers whichever node ordered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import psycopg

from postel.acme.storage import KINDS, CertStore
from postel.fsutil import write_atomic
from postel.pg.acmechallenges import PgChallenges
from postel.pg.errors import PgError
from postel.pg.migrate import ACME_ORDER_LOCK
from postel.pg.pool import Conn, connect
from postel.pg.rows import col_bytes
from postel.pg.settings import PgSettings

log = logging.getLogger("postel.pg")

CHANNEL = "postel_acme"  # payloads: "certs", "challenges"
POLL = 60.0  # seconds between looks when no notification came
RETRY = 5.0  # seconds before the follower connects again


class PgACMEError(PgError):
    """Keys or certificates could not be read from or written to the database."""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _bytes_or_none(value: object) -> bytes | None:
    return None if value is None else col_bytes(value)


class PgCertStore:
    """postel.acme.storage.CertStorage in the PostgreSQL store, with *files*
    (the node's data directory) as the copy the listeners load."""

    def __init__(self, files: CertStore, settings: PgSettings, challenges: PgChallenges) -> None:
        self._files = files
        self.settings = settings
        self.challenges = challenges

    @property
    def files(self) -> CertStore:
        return self._files

    @asynccontextmanager
    async def _conn(self) -> AsyncIterator[Conn]:
        conn = await connect(self.settings)
        try:
            yield conn
        except psycopg.Error as exc:
            raise PgACMEError(
                f"ACME keys in PostgreSQL {self.settings.where}: {_first_line(exc)}"
            ) from None
        finally:
            await conn.close()

    def _local(
        self,
    ) -> tuple[bytes | None, bytes | None, dict[str, tuple[bytes, bytes, bytes | None]]]:
        f = self._files
        keys: dict[str, tuple[bytes, bytes, bytes | None]] = {}
        for kind in KINDS:
            key, chain = _read(f.key_file(kind)), _read(f.cert_file(kind))
            if key is not None and chain is not None:
                keys[kind] = (key, chain, _read(f.next_key_file(kind)))
        return _read(f.account_key_file), _read(f.account_file), keys

    async def setup(self, names: list[str]) -> None:
        """This node's keys where none are shared yet (the first node's win),
        then the shared ones into the files."""
        await asyncio.to_thread(self._files.ensure, names)
        await asyncio.to_thread(self._files.account_key)
        account_key, registration, keys = await asyncio.to_thread(self._local)
        async with self._conn() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO acme_account (key, registration) VALUES (%s, %s) "
                "ON CONFLICT (one) DO NOTHING",
                (account_key, registration),
            )
            for kind, (key, chain, next_key) in keys.items():
                await conn.execute(
                    "INSERT INTO acme_host_key (kind, key, chain, next_key) "
                    "VALUES (%s, %s, %s, %s) ON CONFLICT (kind) DO NOTHING",
                    (kind, key, chain, next_key),
                )
        await self.pull()

    async def pull(self) -> bool:
        async with self._conn() as conn:
            cur = await conn.execute("SELECT key, registration FROM acme_account")
            account = await cur.fetchone()
            cur = await conn.execute("SELECT kind, key, chain, next_key FROM acme_host_key")
            rows = await cur.fetchall()
        shared = {
            str(kind): (col_bytes(key), col_bytes(chain), _bytes_or_none(next_key))
            for kind, key, chain, next_key in rows
        }
        acc = (col_bytes(account[0]), _bytes_or_none(account[1])) if account else None
        changed = await asyncio.to_thread(self._write, acc, shared)
        if changed:
            log.info(
                "acme keys or certificates taken from the database",
                extra={"db": self.settings.where},
            )
        return changed

    def _put(self, path: Path, data: bytes, mode: int) -> bool:
        if _read(path) == data:
            return False
        write_atomic(path, data, tmpdir=self._files.root / "tmp", mode=mode)
        return True

    def _write(
        self,
        account: tuple[bytes, bytes | None] | None,
        shared: dict[str, tuple[bytes, bytes, bytes | None]],
    ) -> bool:
        f = self._files
        changed = False
        if account is not None:
            changed |= self._put(f.account_key_file, account[0], 0o600)
            if account[1] is not None:
                changed |= self._put(f.account_file, account[1], 0o600)
        for kind, (key, chain, next_key) in shared.items():
            next_file = f.next_key_file(kind)
            if next_key is not None:
                changed |= self._put(next_file, next_key, 0o600)
            elif next_file.exists() and _read(f.key_file(kind)) != key:
                next_file.unlink()  # promoted by the node that ordered (RFC 7671 §8.1)
                changed = True
            # A rollover started here and not yet shared keeps its next key:
            # publish() shares it.
            changed |= self._put(f.key_file(kind), key, 0o600)
            changed |= self._put(f.cert_file(kind), chain, 0o644)
        return changed

    async def publish(self) -> None:
        account_key, registration, keys = await asyncio.to_thread(self._local)
        async with self._conn() as conn, conn.transaction():
            if account_key is not None:
                await conn.execute(
                    "INSERT INTO acme_account (key, registration) VALUES (%s, %s) "
                    "ON CONFLICT (one) DO UPDATE SET key = excluded.key, "
                    "registration = excluded.registration",
                    (account_key, registration),
                )
            for kind, (key, chain, next_key) in keys.items():
                await conn.execute(
                    "INSERT INTO acme_host_key (kind, key, chain, next_key) "
                    "VALUES (%s, %s, %s, %s) ON CONFLICT (kind) DO UPDATE SET "
                    "key = excluded.key, chain = excluded.chain, "
                    "next_key = excluded.next_key, updated = now()",
                    (kind, key, chain, next_key),
                )
            await conn.execute("SELECT pg_notify(%s, 'certs')", (CHANNEL,))
        log.info("acme certificates shared with the other nodes", extra={"db": self.settings.where})

    def exclusive(self) -> AbstractAsyncContextManager[bool]:
        return self._exclusive()

    @asynccontextmanager
    async def _exclusive(self) -> AsyncIterator[bool]:
        # A session lock on a connection of its own, for the whole order; it
        # ends with the connection, also when this node dies mid-order.
        async with self._conn() as conn:
            cur = await conn.execute("SELECT pg_try_advisory_lock(%s)", (ACME_ORDER_LOCK,))
            row = await cur.fetchone()
            yield bool(row and row[0])

    async def follow(self, on_change: Callable[[], None], *, poll: float = POLL) -> None:
        """Until cancelled: take in other nodes' certificates (then call
        *on_change*) and challenges as they are notified, and every *poll* s."""
        while True:
            try:
                conn = await connect(self.settings)
            except PgError as exc:
                log.warning("acme follower cannot connect", extra={"err": str(exc)})
                await asyncio.sleep(RETRY)
                continue
            try:
                await conn.execute(f"LISTEN {CHANNEL}")
                await self._catch_up(on_change)  # what came before LISTEN
                while True:
                    async for note in conn.notifies(timeout=poll):
                        if note.payload == "challenges":
                            await self.challenges.refresh()
                        elif note.payload == "certs" and await self.pull():
                            on_change()
                    await self._catch_up(on_change)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the connection broke, the database restarts
                log.warning("acme follower lost its connection", extra={"err": repr(exc)})
            finally:
                with contextlib.suppress(Exception):
                    await conn.close()
            await asyncio.sleep(RETRY)

    async def _catch_up(self, on_change: Callable[[], None]) -> None:
        await self.challenges.refresh()
        if await self.pull():
            on_change()
