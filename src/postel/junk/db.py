"""An account's junk filter data: accounts/<name>/junk.db.

    token     feature key (junk/keys.py) -> (ham, spam) message counts
    identity  verified sender identity -> (ham, spam) verdict counts
    trained   message key -> the kind it was trained as, and its identities
    filed     message key -> where delivery filed it and why (the newest MAX_FILED)

Training is idempotent per message key: training a message again as the same
kind changes nothing; as the other kind (moved out of Junk) it is untrained
first, so counts always reflect the user's latest verdict.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from postel.db import Migration, open_db, transaction
from postel.junk.cache import TellingCache
from postel.junk.classify import Counts
from postel.junk.decide import Filing
from postel.junk.keys import feature_key, feature_keys

FILE = "junk.db"
CHUNK = 500  # features per SELECT (SQLite's variable limit is far above)
MAX_FILED = 20_000  # filing records kept per account


def _hash_token_keys(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TABLE token_key ("
        " key INTEGER PRIMARY KEY,"
        " ham INTEGER NOT NULL DEFAULT 0 CHECK (ham >= 0),"
        " spam INTEGER NOT NULL DEFAULT 0 CHECK (spam >= 0))"
    )
    conn.executemany(
        "INSERT INTO token_key (key, ham, spam) VALUES (?, ?, ?) "
        "ON CONFLICT (key) DO UPDATE SET ham = ham + excluded.ham, spam = spam + excluded.spam",
        ((feature_key(t), h, s) for t, h, s in conn.execute("SELECT token, ham, spam FROM token")),
    )
    conn.execute("DROP TABLE token")
    conn.execute("ALTER TABLE token_key RENAME TO token")


MIGRATIONS: list[Migration] = [
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
    INSERT INTO meta (key, value) VALUES ('ham_messages', 0), ('spam_messages', 0);
    CREATE TABLE token (
        token TEXT PRIMARY KEY,
        ham INTEGER NOT NULL DEFAULT 0 CHECK (ham >= 0),
        spam INTEGER NOT NULL DEFAULT 0 CHECK (spam >= 0)
    ) WITHOUT ROWID;
    CREATE TABLE identity (
        identity TEXT PRIMARY KEY,
        ham INTEGER NOT NULL DEFAULT 0 CHECK (ham >= 0),
        spam INTEGER NOT NULL DEFAULT 0 CHECK (spam >= 0)
    ) WITHOUT ROWID;
    CREATE TABLE trained (
        key TEXT PRIMARY KEY,
        spam INTEGER NOT NULL,
        identities TEXT NOT NULL DEFAULT '[]'
    ) WITHOUT ROWID;
    CREATE TABLE filed (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        key TEXT NOT NULL,
        at TEXT NOT NULL,
        target TEXT NOT NULL,
        score REAL,
        reasons TEXT NOT NULL DEFAULT '[]'
    );
    CREATE INDEX filed_key ON filed (key);
    """,
    # Counted up by every change of the counts: tells a process's cache of
    # token counts that another process trained (JunkDB.counts).
    "INSERT OR IGNORE INTO meta (key, value) VALUES ('generation', 0);",
    # The features keyed by their 64-bit hash (junk/keys.py) instead of their
    # text: an integer B-tree (rowid table), a fifth smaller, and the keys
    # PostgreSQL's token table uses too (pg/junkstore.py).
    _hash_token_keys,
]


_TOTALS = (
    "SELECT (SELECT value FROM meta WHERE key = 'ham_messages'),"
    " (SELECT value FROM meta WHERE key = 'spam_messages'),"
    " (SELECT value FROM meta WHERE key = 'generation')"
)


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), CHUNK):
        yield items[i : i + CHUNK]


class JunkDB:
    """One account's junk.db (postel.junk.store.JunkAccountData)."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path
        self._cache = TellingCache()

    @classmethod
    def open(cls, account_dir: Path, *, durable: bool = True) -> JunkDB:
        """The account's junk.db; not *durable*: commits are not synced (WAL
        with synchronous=NORMAL: a power loss may lose the last ones, never
        corrupt), for the filing records, which only explain a filing."""
        path = account_dir / FILE
        conn = open_db(path, MIGRATIONS)
        if not durable:
            conn.execute("PRAGMA synchronous = NORMAL")
        return cls(conn, path)

    def close(self) -> None:
        self.conn.close()

    def totals(self) -> tuple[int, int]:
        """Messages trained as (ham, spam). Also checks whether the counts
        changed since they were cached: call it before :meth:`telling`."""
        # One row: each step of a statement lets another thread take the GIL,
        # under load the event loop's, a context switch each way (bench/NOTES.md,
        # junk filter, sixth round); the table's rows were one step each.
        row = self.conn.execute(_TOTALS).fetchall()[0]
        totals = int(row[0] or 0), int(row[1] or 0)
        self._cache.check(int(row[2] or 0), totals)
        return totals

    def _counts(self, table: str, column: str, keys: Iterable[str]) -> dict[str, Counts]:
        wanted = sorted(set(keys))
        out: dict[str, Counts] = {}
        for part in _chunks(wanted):
            marks = ",".join("?" * len(part))
            for row in self.conn.execute(
                f"SELECT {column}, ham, spam FROM {table} WHERE {column} IN ({marks})", part
            ):
                out[row[0]] = Counts(int(row[1]), int(row[2]))
        return out

    def _token_rows(self, keys: dict[int, str]) -> sqlite3.Cursor:
        """(key, ham, spam) of the feature *keys* the account has seen, in one
        statement (json_each, SQLite's JSON functions: a list of "?" per
        lookup was another statement to prepare each time), as plain tuples."""
        cur = self.conn.cursor()
        cur.row_factory = None
        return cur.execute(
            "SELECT key, ham, spam FROM token WHERE key IN (SELECT value FROM json_each(?))",
            (json.dumps(list(keys)),),
        )

    def _all_token_rows(self, limit: int) -> Iterator[tuple[int, int, int]]:
        """(key, ham, spam) of the first *limit* + 1 feature keys in key order
        (the rowid's: no sorting). The statement ends when the iterator is
        closed: a statement left open would keep its read snapshot."""
        cur = self.conn.cursor()
        cur.row_factory = None
        try:
            yield from cur.execute(
                "SELECT key, ham, spam FROM token ORDER BY key LIMIT ?", (limit + 1,)
            )
        finally:
            cur.close()

    def counts(self, features: Iterable[str]) -> dict[str, Counts]:
        """The counts of the *features* the account has seen."""
        keys = feature_keys(features)
        return {keys[k]: Counts(int(ham), int(spam)) for k, ham, spam in self._token_rows(keys)}

    def telling(self, features: Iterable[str]) -> list[tuple[str, float]]:
        """The (feature, probability) of the *features* that tell something
        (classify.telling_probability), at the totals :meth:`totals` read
        last: call it first. From the cache when they were looked up since
        the last training that totals() saw, else from the token table read
        into memory (postel.junk.cache) or from junk.db (and then cached)."""
        return self._cache.telling(features, self._token_rows, self._all_token_rows)

    def _changed(self) -> None:
        """Inside a training transaction: the counts change (see totals)."""
        self.conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'generation'")
        self._cache.invalidate()

    def reputation(self, identities: Iterable[str]) -> dict[str, Counts]:
        return self._counts("identity", "identity", identities)

    def trained_as(self, key: str) -> bool | None:
        """True: trained as spam; False: as ham; None: not trained."""
        row = self.conn.execute("SELECT spam FROM trained WHERE key = ?", (key,)).fetchone()
        return None if row is None else bool(row[0])

    def _add(
        self, features: Iterable[str], identities: Iterable[str], spam: bool, step: int
    ) -> None:
        """Count a message of kind *spam* once more (*step* 1) or once less (-1)."""
        col = "spam" if spam else "ham"
        tokens: list[tuple[int | str]] = [(k,) for k in feature_keys(features)]
        for table, column, rows in (
            ("token", "key", tokens),
            ("identity", "identity", [(i,) for i in identities]),
        ):
            if step > 0:
                self.conn.executemany(
                    f"INSERT INTO {table} ({column}, {col}) VALUES (?, 1) "
                    f"ON CONFLICT ({column}) DO UPDATE SET {col} = {col} + 1",
                    rows,
                )
            else:
                self.conn.executemany(
                    f"UPDATE {table} SET {col} = max(0, {col} - 1) WHERE {column} = ?",
                    rows,
                )
        self.conn.execute(
            "UPDATE meta SET value = max(0, value + ?) WHERE key = ?",
            (step, f"{col}_messages"),
        )

    def train(
        self, key: str, features: Iterable[str], identities: Sequence[str], *, spam: bool
    ) -> bool:
        """Record the user's verdict on the message *key*; False if it was
        trained so already. *features* are the message's (postel.junk.tokens)."""
        feats = sorted(set(features))
        with transaction(self.conn):
            row = self.conn.execute(
                "SELECT spam, identities FROM trained WHERE key = ?", (key,)
            ).fetchone()
            if row is not None:
                if bool(row[0]) == spam:
                    return False
                self._add(feats, json.loads(row[1]), bool(row[0]), -1)
            self._add(feats, identities, spam, 1)
            self._changed()
            self.conn.execute(
                "INSERT INTO trained (key, spam, identities) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET spam = excluded.spam, "
                "identities = excluded.identities",
                (key, int(spam), json.dumps(list(identities))),
            )
        return True

    def untrain(self, key: str, features: Iterable[str]) -> bool:
        """Forget the verdict on *key* (the message was deleted unread from Junk...)."""
        with transaction(self.conn):
            row = self.conn.execute(
                "SELECT spam, identities FROM trained WHERE key = ?", (key,)
            ).fetchone()
            if row is None:
                return False
            self._add(sorted(set(features)), json.loads(row[1]), bool(row[0]), -1)
            self.conn.execute("DELETE FROM trained WHERE key = ?", (key,))
            self._changed()
        return True

    def record_filing(self, key: str, filing: Filing, at: dt.datetime) -> None:
        """Where delivery filed the message *key*, for the user to see why."""
        self.record_filings([(key, filing)], at)

    def record_filings(self, filings: Sequence[tuple[str, Filing]], at: dt.datetime) -> None:
        """Several (key, filing) in one transaction (one commit, one fsync)."""
        with transaction(self.conn):
            for key, filing in filings:
                cur = self.conn.execute(
                    "INSERT INTO filed (key, at, target, score, reasons) VALUES (?, ?, ?, ?, ?)",
                    (key, at.isoformat(), filing.target, filing.score, json.dumps(filing.reasons)),
                )
                if cur.lastrowid is not None and cur.lastrowid % 1000 == 0:
                    self.conn.execute(
                        "DELETE FROM filed WHERE id <= ?", (cur.lastrowid - MAX_FILED,)
                    )

    def filing(self, key: str) -> Filing | None:
        """The latest filing of the message *key*."""
        row = self.conn.execute(
            "SELECT target, score, reasons FROM filed WHERE key = ? ORDER BY id DESC LIMIT 1",
            (key,),
        ).fetchone()
        if row is None:
            return None
        return Filing(row[0], row[1], tuple(json.loads(row[2])))
