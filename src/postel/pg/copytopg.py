"""`postel migrate-store to-postgresql`: a SQLite data directory into the
PostgreSQL store, in one transaction (a failed copy leaves the database as it
was). Bodies are read one message file at a time and inserted in batches, so
memory stays bounded by a batch, not by the mailbox.

Passwords are copied as auth.db keeps them (scrypt and SCRAM-SHA-256 keys);
no password is ever seen in clear. What the PostgreSQL store does not keep
yet is reported, one line each (postel.pg.copymap.NOT_KEPT).
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from postel.databases import DATABASES
from postel.datadir import DataDir, message_path
from postel.db import Migration, open_db
from postel.pg.copymap import (
    COPIED_DATABASES,
    MessageRecord,
    mailbox_from_sqlite,
    message_from_sqlite,
    not_copied_line,
    queue_entry_from_sqlite,
    queue_message_from_sqlite,
)
from postel.pg.errors import PgCopyError
from postel.pg.rows import col_int
from postel.pg.settings import PgSettings
from postel.pg.syncconn import SyncConn, first_line, migrate_now, sync_connect
from postel.queue.schema import MIGRATIONS as QUEUE_MIGRATIONS
from postel.store.accountbase import INDEX_DB
from postel.store.credentials import MIGRATIONS as AUTH_MIGRATIONS
from postel.store.schema import MIGRATIONS as STORE_MIGRATIONS

log = logging.getLogger("postel.pg")

BATCH_MESSAGES = 200  # messages per INSERT batch
BATCH_BYTES = 32 * 1024 * 1024  # bodies held at most before a batch is sent
PROGRESS_EVERY = 1000  # messages between progress lines

Say = Callable[[str], None]


@dataclass
class CopyReport:
    """What a copy did; *not_copied*: one line per thing left behind."""

    accounts: int = 0
    mailboxes: int = 0
    messages: int = 0
    bytes: int = 0
    credentials: int = 0
    queued: int = 0
    not_copied: list[str] = field(default_factory=list)

    def line(self, where: str) -> str:
        return (
            f"{where}: copied {self.accounts} accounts, {self.mailboxes} mailboxes, "
            f"{self.messages} messages ({self.bytes} bytes), {self.credentials} passwords, "
            f"{self.queued} queued messages"
        )


# Tables of the PostgreSQL store that a copy fills (and --replace empties).
STORE_TABLES = ("account", "credential", "secret", "body", "queue_message", "queue_entry")


def target_rows(conn: SyncConn) -> int:
    """Rows in the tables a copy fills: 0 for an empty store."""
    total = 0
    for table in ("account", "credential", "queue_message"):
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
        total += col_int(row[0]) if row is not None else 0
    return total


def sqlite_to_pg(
    datadir: DataDir, settings: PgSettings, *, replace: bool = False, say: Say = print
) -> CopyReport:
    """Copy *datadir* into the database of *settings*; refuses a database that
    holds accounts, passwords or queued mail unless *replace* (then emptied
    first, in the same transaction)."""
    root = datadir.root
    if not (datadir.accounts_dir.is_dir() or datadir.auth_db.is_file()):
        raise PgCopyError(f"{root}: not a postel data directory (no accounts/, no auth.db)")
    report = CopyReport()
    for db in DATABASES:
        if db.name in COPIED_DATABASES:
            continue
        for path in db.locate(root):
            report.not_copied.append(not_copied_line(str(path.relative_to(root)), db.name))
    if (root / "acme").is_dir():
        report.not_copied.append(
            "not copied: acme/: ACME account and certificates (stay in each node's data directory)"
        )
    migrate_now(settings)
    try:
        _copy_all(datadir, settings, replace, report, say)
    except psycopg.Error as exc:
        raise PgCopyError(
            f"PostgreSQL {settings.where}: copy failed, nothing written: {first_line(exc)}"
        ) from None
    return report


def _copy_all(
    datadir: DataDir, settings: PgSettings, replace: bool, report: CopyReport, say: Say
) -> None:
    with sync_connect(settings) as conn, conn.transaction():
        if target_rows(conn):
            if not replace:
                raise PgCopyError(
                    f"PostgreSQL {settings.where}: holds accounts, passwords or queued "
                    "mail already; copy into an empty database, or pass --replace to "
                    "empty it first"
                )
            conn.execute(f"TRUNCATE {', '.join(STORE_TABLES)} CASCADE")
        _copy_auth(conn, datadir, report)
        for account_dir in sorted(datadir.accounts_dir.glob("*")):
            if (account_dir / INDEX_DB).is_file():
                _copy_account(conn, account_dir, report, say)
        _copy_queue(conn, datadir, report)


def _open(path: Path, migrations: Sequence[Migration]) -> sqlite3.Connection:
    """A source database, migrated forward as the server would at start."""
    conn = open_db(path, migrations)
    conn.row_factory = sqlite3.Row
    return conn


def _copy_auth(conn: SyncConn, datadir: DataDir, report: CopyReport) -> None:
    if not datadir.auth_db.is_file():
        return
    src = _open(datadir.auth_db, AUTH_MIGRATIONS)
    try:
        for r in src.execute("SELECT * FROM password ORDER BY account"):
            conn.execute(
                "INSERT INTO credential (account, scrypt, scram_salt, scram_iterations, "
                "scram_stored_key, scram_server_key, updated) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (
                    r["account"],
                    r["scrypt"],
                    bytes(r["scram_salt"]),
                    r["scram_iterations"],
                    bytes(r["scram_stored_key"]),
                    bytes(r["scram_server_key"]),
                    r["updated"],
                ),
            )
            report.credentials += 1
        # Server secrets (the SCRAM decoy key): unknown names keep their salts.
        for r in src.execute("SELECT name, value FROM secret"):
            conn.execute(
                "INSERT INTO secret (name, value) VALUES (%s, %s) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (r["name"], bytes(r["value"])),
            )
        failures = src.execute("SELECT count(*) FROM login_failure").fetchone()[0]
        if failures:
            report.not_copied.append(
                f"not copied: auth.db: {failures} recorded login failures (the login limiter "
                "starts afresh)"
            )
    finally:
        src.close()


def _copy_account(conn: SyncConn, account_dir: Path, report: CopyReport, say: Say) -> None:
    name = account_dir.name
    src = _open(account_dir / INDEX_DB, STORE_MIGRATIONS)
    try:
        meta = {str(r[0]): int(r[1]) for r in src.execute("SELECT key, value FROM meta")}
        row = conn.execute(
            "INSERT INTO account (name, modseq, next_uidvalidity) VALUES (%s, %s, %s) RETURNING id",
            (name, max(1, meta.get("modseq", 1)), meta.get("next_uidvalidity", 1)),
        ).fetchone()
        assert row is not None
        account_id = col_int(row[0])
        report.accounts += 1
        boxes: dict[int, int] = {}  # SQLite mailbox id -> PostgreSQL mailbox id
        for r in src.execute("SELECT * FROM mailbox ORDER BY id"):
            box = mailbox_from_sqlite(r)
            got = conn.execute(
                "INSERT INTO mailbox (account_id, name, uidvalidity, uidnext, highestmodseq, "
                "total, unseen, size, special_use, vanished_floor) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (
                    account_id,
                    box.name,
                    box.uidvalidity,
                    box.uidnext,
                    box.highestmodseq,
                    box.total,
                    box.unseen,
                    box.size,
                    box.special_use,
                    box.vanished_floor,
                ),
            ).fetchone()
            assert got is not None
            boxes[int(r["id"])] = col_int(got[0])
            report.mailboxes += 1
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO subscription (account_id, name) VALUES (%s, %s)",
                [(account_id, str(r[0])) for r in src.execute("SELECT name FROM subscription")],
            )
            cur.executemany(
                "INSERT INTO vanished (mailbox_id, uid, modseq) VALUES (%s, %s, %s)",
                [
                    (boxes[int(r[0])], int(r[1]), int(r[2]))
                    for r in src.execute("SELECT mailbox_id, uid, modseq FROM vanished")
                    if int(r[0]) in boxes
                ],
            )
        conn.execute(
            "UPDATE mailbox b SET vanished_rows = "
            "(SELECT count(*) FROM vanished v WHERE v.mailbox_id = b.id) WHERE b.account_id = %s",
            (account_id,),
        )
        _copy_messages(conn, src, account_dir, boxes, report, say)
        kept = src.execute("SELECT count(*) FROM domain_security").fetchone()[0]
        if kept:
            report.not_copied.append(
                f"not copied: accounts/{name}/index.db: {kept} domain security observations "
                "(learnt again from the next deliveries)"
            )
    finally:
        src.close()


def _copy_messages(
    conn: SyncConn,
    src: sqlite3.Connection,
    account_dir: Path,
    boxes: dict[int, int],
    report: CopyReport,
    say: Say,
) -> None:
    name = account_dir.name
    batch: list[tuple[int, int, MessageRecord, bytes, bytes]] = []
    held = 0
    rows = src.execute(
        "SELECT m.*, mm.mime, mm.head FROM message m "
        "LEFT JOIN message_mime mm ON mm.id = m.id ORDER BY m.id"
    )
    for r in rows:
        msgid = int(r["id"])
        rec = message_from_sqlite(r)
        path = message_path(account_dir, msgid)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise PgCopyError(
                f"{path}: account {name!r} message {msgid}: cannot read: {exc.strerror or exc}"
            ) from None
        if len(data) != rec.size:
            raise PgCopyError(
                f"{path}: account {name!r} message {msgid}: {len(data)} bytes, its index says "
                f"{rec.size}; run `postel verifydata` on the data directory first"
            )
        batch.append((boxes[int(r["mailbox_id"])], msgid, rec, hashlib.sha256(data).digest(), data))
        held += len(data)
        if len(batch) >= BATCH_MESSAGES or held >= BATCH_BYTES:
            _insert_messages(conn, batch, report, say)
            batch, held = [], 0
    _insert_messages(conn, batch, report, say)


def _insert_messages(
    conn: SyncConn,
    batch: list[tuple[int, int, MessageRecord, bytes, bytes]],
    report: CopyReport,
    say: Say,
) -> None:
    if not batch:
        return
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO body (sha256, size, data) VALUES (%s, %s, %s) "
            "ON CONFLICT (sha256) DO NOTHING",
            [(digest, len(data), data) for _, _, _, digest, data in batch],
        )
        cur.executemany(
            "INSERT INTO message (mailbox_id, uid, modseq, flags, keywords, size, received, "
            "requiretls, subject, from_addr, to_addr, cc, date, message_id, in_reply_to, "
            "has_attachments, body, mime, head) VALUES "
            "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                (
                    mailbox_id,
                    rec.uid,
                    rec.modseq,
                    sorted(rec.flags),
                    sorted(rec.keywords),
                    rec.size,
                    rec.received,
                    rec.requiretls,
                    rec.subject,
                    rec.from_,
                    rec.to,
                    rec.cc,
                    rec.date,
                    rec.message_id,
                    rec.in_reply_to,
                    rec.has_attachments,
                    digest,
                    rec.mime,
                    rec.head,
                )
                for mailbox_id, _, rec, digest, _ in batch
            ],
        )
    before = report.messages
    report.messages += len(batch)
    report.bytes += sum(len(d) for *_, d in batch)
    if report.messages // PROGRESS_EVERY != before // PROGRESS_EVERY:
        say(f"{report.messages} messages copied ({report.accounts} accounts so far)")


def _copy_queue(conn: SyncConn, datadir: DataDir, report: CopyReport) -> None:
    if not datadir.queue_db.is_file():
        return
    src = _open(datadir.queue_db, QUEUE_MIGRATIONS)
    try:
        for r in src.execute("SELECT * FROM message ORDER BY id"):
            msg = queue_message_from_sqlite(r)
            path = message_path(datadir.queue_dir, int(r["id"]))
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise PgCopyError(
                    f"{path}: queued message {r['id']}: cannot read: {exc.strerror or exc}"
                ) from None
            got = conn.execute(
                "INSERT INTO queue_message (created, sender_account, mail_from, size, "
                "requiretls, tls_required_no, is_tlsrpt, is_dmarc_report, smtputf8, eightbit, "
                "subject, message_id, data) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (
                    msg.created,
                    msg.sender_account,
                    msg.mail_from,
                    len(data),
                    msg.requiretls,
                    msg.tls_required_no,
                    msg.is_tlsrpt,
                    msg.is_dmarc_report,
                    msg.smtputf8,
                    msg.eightbit,
                    msg.subject,
                    msg.message_id,
                    data,
                ),
            ).fetchone()
            assert got is not None
            entries = [
                queue_entry_from_sqlite(e)
                for e in src.execute("SELECT * FROM entry WHERE msg_id = ? ORDER BY id", (r["id"],))
            ]
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO queue_entry (msg_id, rcpt, domain, created, attempts, "
                    "max_attempts, next_attempt, last_attempt, last_error, last_code, "
                    "last_enhanced, remote_mta, hold, dsn_sent_delay) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    [
                        (
                            got[0],
                            e.rcpt,
                            e.domain,
                            e.created,
                            e.attempts,
                            e.max_attempts,
                            e.next_attempt,
                            e.last_attempt,
                            e.last_error,
                            e.last_code,
                            e.last_enhanced,
                            e.remote_mta,
                            e.hold,
                            e.dsn_sent_delay,
                        )
                        for e in entries
                    ],
                )
            report.queued += 1
    finally:
        src.close()
