"""Account passwords in PostgreSQL, shared by the nodes: what auth.db keeps
(postel.store.credentials), as salted slow hashes (scrypt) and SCRAM-SHA-256
keys (RFC 5802, RFC 7677); never a password in clear. Hashing runs in a
thread, not on the event loop."""

from __future__ import annotations

import asyncio
import functools
import os

from psycopg_pool import AsyncConnectionPool

from postel.pg.pool import Conn
from postel.pg.rows import col_bytes, col_int
from postel.store.credentials import DECOY_SECRET
from postel.store.errors import CredentialsError
from postel.store.names import check_account_name
from postel.store.passwords import (
    SCRAM_ITERATIONS,
    scram_decoy,
    scram_sha256_keys,
    scrypt_hash,
    scrypt_verify,
)

ScramKeys = tuple[bytes, int, bytes, bytes]  # salt, iterations, StoredKey, ServerKey


@functools.cache
def _unknown_account_hash() -> str:
    """Verified against for unknown accounts: the time taken does not tell
    whether an account exists."""
    return scrypt_hash("postel-no-such-account", salt=b"\0" * 16)


class PgCredentials:
    """The passwords of all accounts in one PostgreSQL database."""

    def __init__(self, pool: AsyncConnectionPool[Conn]) -> None:
        self.pool = pool
        self._secrets: dict[str, bytes] = {}

    async def set_password(self, account: str, password: str) -> None:
        """Store new hashes for *account* (replacing any earlier ones)."""
        check_account_name(account)
        if not password:
            raise CredentialsError(f"account {account!r}: empty password")
        encoded, keys = await asyncio.to_thread(
            lambda: (scrypt_hash(password), scram_sha256_keys(password))
        )
        async with self.pool.connection() as conn:
            await conn.execute(
                "INSERT INTO credential (account, scrypt, scram_salt, scram_iterations, "
                "scram_stored_key, scram_server_key, updated) "
                "VALUES (%s, %s, %s, %s, %s, %s, now()) "
                "ON CONFLICT (account) DO UPDATE SET scrypt = excluded.scrypt, "
                "scram_salt = excluded.scram_salt, scram_iterations = excluded.scram_iterations, "
                "scram_stored_key = excluded.scram_stored_key, "
                "scram_server_key = excluded.scram_server_key, updated = excluded.updated",
                (account, encoded, keys.salt, keys.iterations, keys.stored_key, keys.server_key),
            )

    async def verify(self, account: str, password: str) -> bool:
        """True if *password* is the account's; False for unknown accounts, after
        as much work as for a known one."""
        async with self.pool.connection() as conn:
            cur = await conn.execute("SELECT scrypt FROM credential WHERE account = %s", (account,))
            row = await cur.fetchone()
        encoded = str(row[0]) if row is not None else _unknown_account_hash()
        ok = await asyncio.to_thread(scrypt_verify, password, encoded)
        return ok and row is not None

    async def accounts(self) -> list[str]:
        async with self.pool.connection() as conn:
            cur = await conn.execute("SELECT account FROM credential ORDER BY account")
            return [str(r[0]) for r in await cur.fetchall()]

    async def remove(self, account: str) -> bool:
        """Forget the account's password; True if there was one."""
        async with self.pool.connection() as conn:
            cur = await conn.execute("DELETE FROM credential WHERE account = %s", (account,))
            return cur.rowcount > 0

    async def scram_sha256(self, account: str) -> ScramKeys | None:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT scram_salt, scram_iterations, scram_stored_key, scram_server_key "
                "FROM credential WHERE account = %s",
                (account,),
            )
            row = await cur.fetchone()
        if row is None:
            return None
        return col_bytes(row[0]), col_int(row[1]), col_bytes(row[2]), col_bytes(row[3])

    async def secret(self, name: str) -> bytes:
        """The server secret *name*: 32 random bytes made once for all nodes
        (whichever inserts first wins; the others read its value)."""
        value = self._secrets.get(name)
        if value is None:
            async with self.pool.connection() as conn:
                await conn.execute(
                    "INSERT INTO secret (name, value) VALUES (%s, %s) "
                    "ON CONFLICT (name) DO NOTHING",
                    (name, os.urandom(32)),
                )
                cur = await conn.execute("SELECT value FROM secret WHERE name = %s", (name,))
                row = await cur.fetchone()
            assert row is not None
            value = self._secrets[name] = col_bytes(row[0])
        return value

    async def scram_sha256_or_decoy(self, name: str) -> ScramKeys:
        """As :meth:`scram_sha256`; for a name without a password, keys that look
        the same to a client (postel.store.passwords.scram_decoy)."""
        keys = await self.scram_sha256(name)
        if keys is not None:
            return keys
        return scram_decoy(await self.secret(DECOY_SECRET), name, SCRAM_ITERATIONS)
