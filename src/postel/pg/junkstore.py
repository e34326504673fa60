"""The junk filter's data in PostgreSQL (schema: postel.pg.schema JUNK), as
postel.junk.store.JunkData: every node files with the training the user gave
through any node, and sees it at its next filing (the account's generation,
read with the totals of every filing, empties this process's cache).

Synchronous, over a pool of its own: the filter calls from threads (the
filing's lookups, IMAP training), never on the event loop.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from psycopg_pool import ConnectionPool

from postel.junk.cache import TellingCache
from postel.junk.classify import Counts
from postel.junk.decide import TARGETS, Filing, Target
from postel.junk.keys import feature_keys
from postel.pg.pool import SyncConn
from postel.pg.rows import col_int
from postel.store.errors import UnknownAccount

MAX_FILED = 20_000  # filing records kept per account, as in junk.db
TRIM_EVERY = 100  # the records of an account are trimmed when an id is a multiple
CACHED_ACCOUNTS = 32  # accounts whose feature probabilities this process keeps
SCAN_PAGE = 50_000  # token rows per query when a process reads an account's table


def _target(value: object) -> Target:
    for t in TARGETS:
        if value == t:
            return t
    raise ValueError(f"junk_filed: unknown target {value!r}")


def _strings(value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError("expected a text[] column")
    return list(value)


class _Kept:
    """What a process keeps of an account between its filings: the account's
    id as the totals were read with it, and its feature probabilities."""

    def __init__(self) -> None:
        self.account_id: int | None = None
        self.cache = TellingCache()


class PgJunkAccount:
    """One account's junk filter data (postel.junk.store.JunkAccountData)."""

    def __init__(self, pool: ConnectionPool[SyncConn], name: str, kept: _Kept) -> None:
        self.pool = pool
        self.name = name
        self._kept = kept
        self._cache = kept.cache

    # -- reading ----------------------------------------------------------

    def totals(self) -> tuple[int, int]:
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT a.id, coalesce(j.generation, 0), coalesce(j.ham_messages, 0), "
                "coalesce(j.spam_messages, 0) FROM account a "
                "LEFT JOIN junk_account j ON j.account_id = a.id WHERE a.name = %s",
                (self.name,),
            ).fetchone()
        if row is None:
            self._kept.account_id = None
            self._cache.check(-1, (0, 0))
            return (0, 0)
        account_id = col_int(row[0])
        if account_id != self._kept.account_id:  # removed and added again
            self._cache.invalidate()
            self._kept.account_id = account_id
        totals = col_int(row[2]), col_int(row[3])
        self._cache.check(col_int(row[1]), totals)
        return totals

    def _token_rows(self, keys: dict[int, str]) -> list[tuple[int, int, int]]:
        account_id = self._kept.account_id
        if account_id is None or not keys:
            return []
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT key, ham, spam FROM junk_token WHERE account_id = %s "
                "AND key = ANY(%s::bigint[])",
                (account_id, list(keys)),
            ).fetchall()
        return [(col_int(k), col_int(h), col_int(s)) for k, h, s in rows]

    def _all_token_rows(self, limit: int) -> Iterator[tuple[int, int, int]]:
        """(key, ham, spam) of the first *limit* + 1 feature keys in key order,
        read SCAN_PAGE at a time (the rows of one page in memory at once)."""
        account_id = self._kept.account_id
        if account_id is None:
            return
        after: int | None = None
        left = limit + 1
        while left > 0:
            page = min(left, SCAN_PAGE)
            # A range of the primary key (account_id, key): an index scan.
            bound = "key >= %s" if after is None else "key > %s"
            with self.pool.connection() as conn:
                rows = conn.execute(
                    "SELECT key, ham, spam FROM junk_token WHERE account_id = %s "
                    f"AND {bound} ORDER BY key LIMIT %s",
                    (account_id, -(2**63) if after is None else after, page),
                ).fetchall()
            for k, h, s in rows:
                yield col_int(k), col_int(h), col_int(s)
            if len(rows) < page:
                return
            left -= len(rows)
            after = col_int(rows[-1][0])

    def telling(self, features: Iterable[str]) -> list[tuple[str, float]]:
        return self._cache.telling(features, self._token_rows, self._all_token_rows)

    def counts(self, features: Iterable[str]) -> dict[str, Counts]:
        keys = feature_keys(features)
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT t.key, t.ham, t.spam FROM junk_token t JOIN account a "
                "ON a.id = t.account_id WHERE a.name = %s AND t.key = ANY(%s::bigint[])",
                (self.name, list(keys)),
            ).fetchall()
        return {keys[col_int(k)]: Counts(col_int(h), col_int(s)) for k, h, s in rows}

    def reputation(self, identities: Iterable[str]) -> dict[str, Counts]:
        wanted = sorted(set(identities))
        if not wanted:
            return {}
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT i.identity, i.ham, i.spam FROM junk_identity i JOIN account a "
                "ON a.id = i.account_id WHERE a.name = %s AND i.identity = ANY(%s)",
                (self.name, wanted),
            ).fetchall()
        return {str(i): Counts(col_int(h), col_int(s)) for i, h, s in rows}

    def trained_as(self, key: str) -> bool | None:
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT t.spam FROM junk_trained t JOIN account a ON a.id = t.account_id "
                "WHERE a.name = %s AND t.key = %s",
                (self.name, key),
            ).fetchone()
        return None if row is None else bool(row[0])

    def filing(self, key: str) -> Filing | None:
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT f.target, f.score, f.reasons FROM junk_filed f JOIN account a "
                "ON a.id = f.account_id WHERE a.name = %s AND f.key = %s "
                "ORDER BY f.id DESC LIMIT 1",
                (self.name, key),
            ).fetchone()
        if row is None:
            return None
        score = row[1]
        return Filing(
            _target(row[0]),
            float(score) if isinstance(score, int | float) else None,
            tuple(_strings(row[2])),
        )

    # -- training ---------------------------------------------------------

    def _locked(self, conn: SyncConn) -> int:
        """Inside a transaction: the account's id, its junk_account row made
        and locked (one training of an account at a time, on every node)."""
        row = conn.execute("SELECT id FROM account WHERE name = %s", (self.name,)).fetchone()
        if row is None:
            raise UnknownAccount(f"account {self.name!r}: not in the PostgreSQL store")
        account_id = col_int(row[0])
        conn.execute(
            "INSERT INTO junk_account (account_id) VALUES (%s) ON CONFLICT DO NOTHING",
            (account_id,),
        )
        conn.execute("SELECT 1 FROM junk_account WHERE account_id = %s FOR UPDATE", (account_id,))
        return account_id

    def _add(
        self,
        conn: SyncConn,
        account_id: int,
        keys: list[int],
        identities: Sequence[str],
        spam: bool,
        step: int,
    ) -> None:
        """Count a message of kind *spam* once more (*step* 1) or once less (-1)."""
        col = "spam" if spam else "ham"
        idents = sorted(set(identities))
        for table, column, kind, values in (
            ("junk_token", "key", "bigint", keys),
            ("junk_identity", "identity", "text", idents),
        ):
            if not values:
                continue
            if step > 0:
                conn.execute(
                    f"INSERT INTO {table} (account_id, {column}, {col}) "
                    f"SELECT %s, v, 1 FROM unnest(%s::{kind}[]) AS v "
                    f"ON CONFLICT (account_id, {column}) DO UPDATE SET {col} = {table}.{col} + 1",
                    (account_id, values),
                )
            else:
                conn.execute(
                    f"UPDATE {table} SET {col} = greatest(0, {col} - 1) "
                    f"WHERE account_id = %s AND {column} = ANY(%s::{kind}[])",
                    (account_id, values),
                )
        conn.execute(
            f"UPDATE junk_account SET {col}_messages = greatest(0, {col}_messages + %s) "
            "WHERE account_id = %s",
            (step, account_id),
        )

    def _changed(self, conn: SyncConn, account_id: int) -> None:
        conn.execute(
            "UPDATE junk_account SET generation = generation + 1 WHERE account_id = %s",
            (account_id,),
        )
        self._cache.invalidate()

    def train(
        self, key: str, features: Iterable[str], identities: Sequence[str], *, spam: bool
    ) -> bool:
        keys = sorted(feature_keys(features))
        with self.pool.connection() as conn, conn.transaction():
            account_id = self._locked(conn)
            row = conn.execute(
                "SELECT spam, identities FROM junk_trained WHERE account_id = %s AND key = %s",
                (account_id, key),
            ).fetchone()
            if row is not None:
                if bool(row[0]) == spam:
                    return False
                self._add(conn, account_id, keys, _strings(row[1]), bool(row[0]), -1)
            self._add(conn, account_id, keys, identities, spam, 1)
            self._changed(conn, account_id)
            conn.execute(
                "INSERT INTO junk_trained (account_id, key, spam, identities) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (account_id, key) DO UPDATE "
                "SET spam = excluded.spam, identities = excluded.identities",
                (account_id, key, spam, list(identities)),
            )
        return True

    def untrain(self, key: str, features: Iterable[str]) -> bool:
        keys = sorted(feature_keys(features))
        with self.pool.connection() as conn, conn.transaction():
            account_id = self._locked(conn)
            row = conn.execute(
                "DELETE FROM junk_trained WHERE account_id = %s AND key = %s "
                "RETURNING spam, identities",
                (account_id, key),
            ).fetchone()
            if row is None:
                return False
            self._add(conn, account_id, keys, _strings(row[1]), bool(row[0]), -1)
            self._changed(conn, account_id)
        return True

    # -- filing records ---------------------------------------------------

    def record_filings(self, filings: Sequence[tuple[str, Filing]], at: dt.datetime) -> None:
        if not filings:
            return
        with self.pool.connection() as conn, conn.transaction():
            row = conn.execute("SELECT id FROM account WHERE name = %s", (self.name,)).fetchone()
            if row is None:
                raise UnknownAccount(f"account {self.name!r}: not in the PostgreSQL store")
            account_id = col_int(row[0])
            ids: list[int] = []
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO junk_filed (account_id, key, at, target, score, reasons) "
                    "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                    [
                        (account_id, key, at, f.target, f.score, list(f.reasons))
                        for key, f in filings
                    ],
                    returning=True,
                )
                while True:
                    got = cur.fetchone()
                    if got is not None:
                        ids.append(col_int(got[0]))
                    if not cur.nextset():
                        break
            if any(i % TRIM_EVERY == 0 for i in ids):
                conn.execute(
                    "DELETE FROM junk_filed WHERE account_id = %s AND id <= ("
                    " SELECT id FROM junk_filed WHERE account_id = %s"
                    " ORDER BY id DESC OFFSET %s LIMIT 1)",
                    (account_id, account_id, MAX_FILED),
                )


class PgJunkData:
    """The accounts' junk filter data in PostgreSQL (postel.junk.store.JunkData)
    over *pool* (postel.pg.pool.open_sync_pool), which its opener closes."""

    def __init__(self, pool: ConnectionPool[SyncConn]) -> None:
        self.pool = pool
        # One filing or training of this process at a time uses the caches.
        self._lock = threading.Lock()
        self._kept: OrderedDict[str, _Kept] = OrderedDict()

    @contextmanager
    def account(self, name: str, *, records: bool = False) -> Iterator[PgJunkAccount]:
        if records:  # nothing kept: the records only explain a filing
            yield PgJunkAccount(self.pool, name, _Kept())
            return
        with self._lock:
            kept = self._kept.pop(name, None) or _Kept()
            self._kept[name] = kept
            while len(self._kept) > CACHED_ACCOUNTS:
                self._kept.popitem(last=False)
            yield PgJunkAccount(self.pool, name, kept)

    def has(self, name: str) -> bool:
        """Whether the account is in the store (its data is read, never made, here)."""
        with self.pool.connection() as conn:
            row = conn.execute("SELECT 1 FROM account WHERE name = %s", (name,)).fetchone()
        return row is not None

    def close(self) -> None:
        """Forget the cached probabilities; the pool is its opener's to close
        (the serve process's filters share it)."""
        with self._lock:
            self._kept.clear()


if TYPE_CHECKING:
    from postel.junk.store import JunkAccountData, JunkData

    # mypy --strict checks here that these are what the junk filter needs.
    _a: type[JunkAccountData] = PgJunkAccount
    _d: type[JunkData] = PgJunkData
