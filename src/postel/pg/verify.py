"""`postel verifydata` on the PostgreSQL store: the invariants the store relies
on, checked in one read-only snapshot. Each problem is one line naming the
account, mailbox and UID (or body, queue entry) and what is wrong, as the
SQLite verifydata does for a data directory.

The checks run as queries in the database (SHA-256 of bodies included), so no
body travels to this program. Bodies kept in an object store (data NULL) are
checked there: each object must exist with the row's size (HEAD requests,
a few at a time, each bounded by the store's timeout).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import psycopg

from postel.pg.errors import PgVerifyError
from postel.pg.rows import col_bytes, col_int
from postel.pg.schema import MIGRATIONS
from postel.pg.settings import PgSettings
from postel.pg.syncconn import SyncConn, first_line, sync_connect

if TYPE_CHECKING:
    from postel.pg.objectstore import ObjectStore

OBJECT_CHECKS = 8  # HEAD requests at once

# (query, format of one problem line from its row). Each query returns the
# rows that break one invariant.
_CHECKS: tuple[tuple[str, str], ...] = (
    (
        "SELECT a.name, b.name, m.uid, b.uidnext FROM message m "
        "JOIN mailbox b ON b.id = m.mailbox_id JOIN account a ON a.id = b.account_id "
        "WHERE m.uid >= b.uidnext",
        "account {0!r} mailbox {1!r} UID {2}: not below the mailbox's UIDNEXT {3}",
    ),
    (
        "SELECT a.name, b.name, v.uid, b.uidnext FROM vanished v "
        "JOIN mailbox b ON b.id = v.mailbox_id JOIN account a ON a.id = b.account_id "
        "WHERE v.uid >= b.uidnext",
        "account {0!r} mailbox {1!r} vanished UID {2}: not below the mailbox's UIDNEXT {3}",
    ),
    (
        "SELECT a.name, b.name, v.uid FROM vanished v "
        "JOIN mailbox b ON b.id = v.mailbox_id JOIN account a ON a.id = b.account_id "
        "WHERE EXISTS (SELECT 1 FROM message m WHERE m.mailbox_id = v.mailbox_id "
        "AND m.uid = v.uid)",
        "account {0!r} mailbox {1!r} UID {2}: listed as vanished and still present",
    ),
    (
        "SELECT a.name, b.name, m.uid, m.modseq, b.highestmodseq FROM message m "
        "JOIN mailbox b ON b.id = m.mailbox_id JOIN account a ON a.id = b.account_id "
        "WHERE m.modseq > b.highestmodseq",
        "account {0!r} mailbox {1!r} UID {2}: modseq {3} above the mailbox's HIGHESTMODSEQ {4}",
    ),
    (
        "SELECT a.name, b.name, v.uid, v.modseq, b.highestmodseq FROM vanished v "
        "JOIN mailbox b ON b.id = v.mailbox_id JOIN account a ON a.id = b.account_id "
        "WHERE v.modseq > b.highestmodseq",
        "account {0!r} mailbox {1!r} vanished UID {2}: modseq {3} above the mailbox's "
        "HIGHESTMODSEQ {4}",
    ),
    (
        "SELECT a.name, b.name, b.highestmodseq, a.modseq FROM mailbox b "
        "JOIN account a ON a.id = b.account_id WHERE b.highestmodseq > a.modseq",
        "account {0!r} mailbox {1!r}: HIGHESTMODSEQ {2} above the account's modseq {3}",
    ),
    (
        "SELECT a.name, b.name, b.uidvalidity, a.next_uidvalidity FROM mailbox b "
        "JOIN account a ON a.id = b.account_id WHERE b.uidvalidity >= a.next_uidvalidity",
        "account {0!r} mailbox {1!r}: UIDVALIDITY {2} not below the account's next one {3} "
        "(a new mailbox could get the same)",
    ),
    (
        "SELECT a.name, b.special_use, string_agg(b.name, ', ' ORDER BY b.name) FROM mailbox b "
        "JOIN account a ON a.id = b.account_id WHERE b.special_use <> '' "
        "GROUP BY a.name, b.special_use HAVING count(*) > 1",
        "account {0!r}: special use {1} on more than one mailbox ({2}; the store keeps "
        "one per use)",
    ),
    (
        "SELECT a.name, b.name, b.total, b.unseen, b.size, "
        "count(m.id), count(m.id) FILTER (WHERE NOT m.flags @> ARRAY['\\Seen']), "
        "COALESCE(sum(m.size), 0) FROM mailbox b JOIN account a ON a.id = b.account_id "
        "LEFT JOIN message m ON m.mailbox_id = b.id "
        "GROUP BY a.name, b.id, b.name, b.total, b.unseen, b.size "
        "HAVING b.total <> count(m.id) "
        "OR b.unseen <> count(m.id) FILTER (WHERE NOT m.flags @> ARRAY['\\Seen']) "
        "OR b.size <> COALESCE(sum(m.size), 0)",
        "account {0!r} mailbox {1!r}: counters (messages {2}, unseen {3}, bytes {4}) differ "
        "from its messages (messages {5}, unseen {6}, bytes {7})",
    ),
    (
        "SELECT a.name, b.name, m.uid, m.size, d.size FROM message m "
        "JOIN mailbox b ON b.id = m.mailbox_id JOIN account a ON a.id = b.account_id "
        "JOIN body d ON d.sha256 = m.body WHERE m.size <> d.size",
        "account {0!r} mailbox {1!r} UID {2}: size {3}, its body has {4} bytes",
    ),
    (
        "SELECT a.name, b.name, m.uid, encode(m.body, 'hex') FROM message m "
        "JOIN mailbox b ON b.id = m.mailbox_id JOIN account a ON a.id = b.account_id "
        "WHERE NOT EXISTS (SELECT 1 FROM body d WHERE d.sha256 = m.body)",
        "account {0!r} mailbox {1!r} UID {2}: body {3} missing",
    ),
    (
        "SELECT encode(sha256, 'hex'), size, length(data) FROM body "
        "WHERE data IS NOT NULL AND length(data) <> size",
        "body {0}: {2} bytes stored, its row says {1}",
    ),
    (
        "SELECT encode(sha256, 'hex') FROM body WHERE data IS NOT NULL AND sha256(data) <> sha256",
        "body {0}: content does not match its SHA-256",
    ),
    (
        "SELECT q.id, q.size, length(q.data) FROM queue_message q WHERE length(q.data) <> q.size",
        "queued message {0}: {2} bytes stored, its row says {1}",
    ),
    (
        "SELECT q.id FROM queue_message q "
        "WHERE NOT EXISTS (SELECT 1 FROM queue_entry e WHERE e.msg_id = q.id)",
        "queued message {0}: no entry (recipient) refers to it",
    ),
    (
        "SELECT e.id, e.rcpt, e.msg_id FROM queue_entry e "
        "WHERE NOT EXISTS (SELECT 1 FROM queue_message q WHERE q.id = e.msg_id)",
        "queue entry {0} ({1}): its message {2} is missing",
    ),
    (
        "SELECT e.id, e.rcpt, e.attempts, e.max_attempts FROM queue_entry e "
        "WHERE e.attempts < 0 OR e.max_attempts < 1",
        "queue entry {0} ({1}): attempts {2} of {3} out of range",
    ),
    (
        "SELECT account, scram_iterations, length(scram_salt), length(scram_stored_key), "
        "length(scram_server_key) FROM credential WHERE scram_iterations < 4096 "
        "OR length(scram_salt) < 16 OR length(scram_stored_key) <> 32 "
        "OR length(scram_server_key) <> 32 OR scrypt NOT LIKE '$scrypt$%%'",
        "account {0!r}: password record malformed (SCRAM iterations {1}, salt {2} bytes, "
        "keys {3} and {4} bytes, or not a scrypt hash)",
    ),
)


@dataclass
class PgVerification:
    where: str
    problems: list[str] = field(default_factory=list)
    accounts: int = 0
    messages: int = 0
    bodies: int = 0
    queued: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        counted = (
            f"{self.accounts} accounts, {self.messages} messages, {self.bodies} bodies "
            f"and {self.queued} queued messages"
        )
        if self.ok:
            return f"{self.where}: OK ({counted})"
        return f"{self.where}: {len(self.problems)} problem(s) in {counted}"


def verify_pg(
    conn: SyncConn, where: str, *, limit: int = 1000, objects: ObjectStore | None = None
) -> PgVerification:
    """Check the store on *conn* (autocommit, not in a transaction), and the
    objects of bodies without data in *objects*; at most *limit* lines per check."""
    result = PgVerification(where)
    version_row = conn.execute(
        "SELECT CASE WHEN to_regclass('schema_version') IS NULL THEN 0 "
        "ELSE (SELECT version FROM schema_version) END"
    ).fetchone()
    version = col_int(version_row[0]) if version_row is not None else 0
    if version != len(MIGRATIONS):
        result.problems.append(
            f"schema version {version}, this program checks version {len(MIGRATIONS)}"
            + ("; run `postel config migrate-db`" if version < len(MIGRATIONS) else "")
        )
        return result
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        for table, attr in (
            ("account", "accounts"),
            ("message", "messages"),
            ("body", "bodies"),
            ("queue_message", "queued"),
        ):
            row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
            setattr(result, attr, col_int(row[0]) if row is not None else 0)
        for query, line in _CHECKS:
            cur = conn.execute(f"{query} LIMIT {int(limit)}")
            for row in cur.fetchall():
                result.problems.append(line.format(*row))
        outside = conn.execute("SELECT sha256, size FROM body WHERE data IS NULL").fetchall()
    result.problems.extend(_check_objects(outside, objects, limit))
    return result


def _check_objects(
    rows: list[tuple[object, ...]], objects: ObjectStore | None, limit: int
) -> list[str]:
    """One line per body without data whose object is missing or has another size."""
    if objects is None:
        return [
            f"body {col_bytes(r[0]).hex()}: no content in the database, and no object "
            "store is configured"
            for r in rows[:limit]
        ]

    def check(row: tuple[object, ...]) -> str:
        digest, size = col_bytes(row[0]), col_int(row[1])
        found = objects.size(digest)
        if found is None:
            return f"body {digest.hex()}: no object in the {objects.where}"
        if found != size:
            return f"body {digest.hex()}: object of {found} bytes, its row says {size}"
        return ""

    with ThreadPoolExecutor(OBJECT_CHECKS) as pool:
        problems = [p for p in pool.map(check, rows) if p]
    return problems[:limit]


def verify_store(settings: PgSettings, objects: ObjectStore | None = None) -> PgVerification:
    """Connect and check the store of *settings* (and the bodies' objects in
    *objects*); PgError says what and where (PgObjectStoreUnavailable when the
    object store does not answer)."""
    where = f"PostgreSQL {settings.where}"
    try:
        with sync_connect(settings) as conn:
            return verify_pg(conn, where, objects=objects)
    except psycopg.Error as exc:
        raise PgVerifyError(f"{where}: cannot check the store: {first_line(exc)}") from None
