"""auth.db: account passwords as salted slow hashes (scrypt) and SCRAM-SHA-256
keys (RFC 5802, RFC 7677). No password is ever stored in clear."""

from __future__ import annotations

import functools
import os
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Protocol

from postel.db import Migration, open_db
from postel.store.errors import CredentialsError
from postel.store.names import check_account_name
from postel.store.passwords import (
    SCRAM_ITERATIONS,
    scram_decoy,
    scram_sha256_keys,
    scrypt_hash,
    scrypt_verify,
)

MIGRATIONS: list[Migration] = [
    """
    CREATE TABLE password (
        account TEXT PRIMARY KEY,
        scrypt TEXT NOT NULL,
        scram_salt BLOB NOT NULL,
        scram_iterations INTEGER NOT NULL,
        scram_stored_key BLOB NOT NULL,
        scram_server_key BLOB NOT NULL,
        updated TEXT NOT NULL
    );
    """,
    # The login limiter's state (postel.loginlimit), and server secrets.
    """
    CREATE TABLE login_failure (
        id INTEGER PRIMARY KEY,
        client TEXT NOT NULL,
        account TEXT NOT NULL,
        at REAL NOT NULL
    );
    CREATE INDEX login_failure_client ON login_failure (client, account, at);
    CREATE INDEX login_failure_account ON login_failure (account, at);
    CREATE INDEX login_failure_at ON login_failure (at);
    CREATE TABLE login_trusted (
        client TEXT NOT NULL,
        account TEXT NOT NULL,
        at REAL NOT NULL,
        PRIMARY KEY (client, account)
    );
    CREATE TABLE secret (
        name TEXT PRIMARY KEY,
        value BLOB NOT NULL
    );
    """,
]

DECOY_SECRET = "scram-decoy"


# Verified against when the account is unknown, so that the time taken does
# not tell whether an account exists.
@functools.cache
def _dummy_hash() -> str:
    return scrypt_hash("postel-no-such-account", salt=b"\0" * 16)


class Passwords(Protocol):
    """What logins (SMTP AUTH, IMAP; postel.sasl.login) read of the passwords,
    from a thread: auth.db's :class:`Credentials`, or the PostgreSQL store's
    shared by the nodes (postel.pg.nodeparts)."""

    def verify(self, account: str, password: str) -> bool: ...
    def scram_sha256_or_decoy(self, name: str) -> tuple[bytes, int, bytes, bytes]: ...
    def close(self) -> None: ...


class PasswordStore(Passwords, Protocol):
    """What the admin pages and the webmail's login do with the passwords, from
    a thread: auth.db's :class:`Credentials`, or on the PostgreSQL store those
    all nodes share (postel.pg.nodeparts.PgPasswords)."""

    def set_password(self, account: str, password: str) -> None: ...
    def accounts(self) -> list[str]: ...
    def remove(self, account: str) -> bool: ...


class Credentials:
    """Passwords of accounts in auth.db. Thread-safe; close when done."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._conn = open_db(self.path, MIGRATIONS)
        self._lock = threading.Lock()
        self._secrets: dict[str, bytes] = {}
        try:
            self.path.chmod(0o600)
        except OSError:
            pass

    def _row(self, account: str) -> sqlite3.Row | None:
        with self._lock:
            row: sqlite3.Row | None = self._conn.execute(
                "SELECT * FROM password WHERE account = ?", (account,)
            ).fetchone()
        return row

    def set_password(self, account: str, password: str) -> None:
        """Store new hashes for *account* (replacing any earlier ones)."""
        check_account_name(account)
        if not password:
            raise CredentialsError(f"account {account!r}: empty password")
        encoded = scrypt_hash(password)
        keys = scram_sha256_keys(password)
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self._lock:
            self._conn.execute(
                "INSERT INTO password (account, scrypt, scram_salt, scram_iterations, "
                "scram_stored_key, scram_server_key, updated) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (account) DO UPDATE SET scrypt = excluded.scrypt, "
                "scram_salt = excluded.scram_salt, scram_iterations = excluded.scram_iterations, "
                "scram_stored_key = excluded.scram_stored_key, "
                "scram_server_key = excluded.scram_server_key, updated = excluded.updated",
                (
                    account,
                    encoded,
                    keys.salt,
                    keys.iterations,
                    keys.stored_key,
                    keys.server_key,
                    now,
                ),
            )

    def verify(self, account: str, password: str) -> bool:
        """True if *password* is the account's; False for unknown accounts."""
        row = self._row(account)
        if row is None:
            scrypt_verify(password, _dummy_hash())
            return False
        return scrypt_verify(password, str(row["scrypt"]))

    def has_password(self, account: str) -> bool:
        return self._row(account) is not None

    def accounts(self) -> list[str]:
        with self._lock:
            rows = self._conn.execute("SELECT account FROM password ORDER BY account").fetchall()
        return [str(r[0]) for r in rows]

    def remove(self, account: str) -> bool:
        """Forget the account's password; True if there was one."""
        with self._lock:
            cur = self._conn.execute("DELETE FROM password WHERE account = ?", (account,))
        return cur.rowcount > 0

    def scram_sha256(self, account: str) -> tuple[bytes, int, bytes, bytes] | None:
        """(salt, iterations, StoredKey, ServerKey) for SCRAM-SHA-256, or None."""
        row = self._row(account)
        if row is None:
            return None
        return (
            bytes(row["scram_salt"]),
            int(row["scram_iterations"]),
            bytes(row["scram_stored_key"]),
            bytes(row["scram_server_key"]),
        )

    def secret(self, name: str) -> bytes:
        """The server secret *name*: 32 random bytes made once, kept in auth.db
        (and so in its backups)."""
        with self._lock:
            value = self._secrets.get(name)
            if value is None:
                # Whichever process inserts first wins; the others read its value.
                self._conn.execute(
                    "INSERT INTO secret (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                    (name, os.urandom(32)),
                )
                row = self._conn.execute(
                    "SELECT value FROM secret WHERE name = ?", (name,)
                ).fetchone()
                value = self._secrets[name] = bytes(row[0])
        return value

    def scram_sha256_or_decoy(self, name: str) -> tuple[bytes, int, bytes, bytes]:
        """As :meth:`scram_sha256`; for a name without a password, keys that look
        the same to a client: a salt that is stable per name (HMAC of a server
        secret) and the iteration count of new passwords, so that the exchange
        does not tell which accounts exist. No password matches them."""
        keys = self.scram_sha256(name)
        if keys is not None:
            return keys
        return scram_decoy(self.secret(DECOY_SECRET), name, SCRAM_ITERATIONS)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Credentials:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
