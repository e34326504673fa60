"""`postel migrate-store to-sqlite`: the PostgreSQL store into a new SQLite data
directory, read in one snapshot (REPEATABLE READ, read only).

Messages are delivered through the SQLite store itself, one at a time in UID
order, so message files, the full-text index, threads and MIME structures are
made as for any delivery; then each account's index gets back what must not
change for IMAP clients: UIDs, modseqs, UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ,
the vanished UIDs and the subscriptions (postel.pg.copymap.uid_fixups).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import psycopg

from postel.datadir import DataDir, message_path
from postel.db import open_db, transaction
from postel.fsutil import write_atomic
from postel.pg.copymap import special_uses, sqlite_time, uid_fixups
from postel.pg.copytopg import BATCH_BYTES, PROGRESS_EVERY, CopyReport
from postel.pg.errors import PgCopyError, PgObjectMissing
from postel.pg.rows import col_bytes, col_int, col_names
from postel.pg.schema import MIGRATIONS
from postel.pg.settings import PgSettings
from postel.pg.syncconn import SyncConn, first_line, sync_connect
from postel.queue.schema import MIGRATIONS as QUEUE_MIGRATIONS
from postel.store.account import AccountStore
from postel.store.accountbase import INDEX_DB
from postel.store.credentials import MIGRATIONS as AUTH_MIGRATIONS
from postel.store.jobs import Delivery
from postel.store.msgfile import temp_path, write_message
from postel.store.names import INBOX
from postel.store.schema import MIGRATIONS as STORE_MIGRATIONS

if TYPE_CHECKING:
    from postel.pg.objectstore import ObjectStore

Say = Callable[[str], None]

PAGE = 100  # messages delivered in one transaction (bodies read up to BATCH_BYTES at once)


def pg_to_sqlite(
    settings_where: str,
    conn: SyncConn,
    datadir: DataDir,
    say: Say,
    objects: ObjectStore | None = None,
) -> CopyReport:
    """Copy the store on *conn* into the new data directory *datadir*; bodies
    kept outside the database are read from *objects*."""
    report = CopyReport()
    version_row = conn.execute("SELECT version FROM schema_version").fetchone()
    version = col_int(version_row[0]) if version_row is not None else 0
    if version != len(MIGRATIONS):
        raise PgCopyError(
            f"PostgreSQL {settings_where}: schema version {version}, this program reads "
            f"{len(MIGRATIONS)}; run `postel config migrate-db` first"
        )
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        datadir.ensure()
        _copy_credentials(conn, datadir, report)
        accounts = conn.execute(
            "SELECT id, name, modseq, next_uidvalidity FROM account ORDER BY name"
        ).fetchall()
        for row in accounts:
            _copy_account(
                conn,
                datadir,
                col_int(row[0]),
                str(row[1]),
                (col_int(row[2]), col_int(row[3])),
                report,
                say,
                objects,
            )
        _copy_queue(conn, datadir, report)
    return report


def open_target(root: Path) -> DataDir:
    """The new data directory: refused when it exists with anything in it."""
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise PgCopyError(f"{root}: exists and is not empty; name a new data directory")
    return DataDir(root)


def copy_to_sqlite(
    settings: PgSettings,
    root: Path,
    *,
    say: Say = print,
    objects: ObjectStore | None = None,
) -> CopyReport:
    """Copy the PostgreSQL store of *settings* (bodies outside the database in
    *objects*) into the new directory *root*."""
    datadir = open_target(root)
    try:
        with sync_connect(settings) as conn:
            return pg_to_sqlite(settings.where, conn, datadir, say, objects)
    except psycopg.Error as exc:
        raise PgCopyError(
            f"PostgreSQL {settings.where}: copy to {root} failed: {first_line(exc)}"
        ) from None


def _copy_credentials(conn: SyncConn, datadir: DataDir, report: CopyReport) -> None:
    dst = open_db(datadir.auth_db, AUTH_MIGRATIONS)
    try:
        with transaction(dst):
            for r in conn.execute(
                "SELECT account, scrypt, scram_salt, scram_iterations, scram_stored_key, "
                "scram_server_key, updated FROM credential ORDER BY account"
            ):
                dst.execute(
                    "INSERT INTO password (account, scrypt, scram_salt, scram_iterations, "
                    "scram_stored_key, scram_server_key, updated) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        r[0],
                        r[1],
                        col_bytes(r[2]),
                        r[3],
                        col_bytes(r[4]),
                        col_bytes(r[5]),
                        _time(r[6]).astimezone(UTC).isoformat(timespec="seconds"),
                    ),
                )
                report.credentials += 1
            for r in conn.execute("SELECT name, value FROM secret"):
                dst.execute(
                    "INSERT INTO secret (name, value) VALUES (?, ?)", (r[0], col_bytes(r[1]))
                )
    finally:
        dst.close()
    datadir.auth_db.chmod(0o600)


def _copy_account(
    conn: SyncConn,
    datadir: DataDir,
    account_id: int,
    name: str,
    counters: tuple[int, int],
    report: CopyReport,
    say: Say,
    objects: ObjectStore | None,
) -> None:
    boxes = conn.execute(
        "SELECT id, name, uidvalidity, uidnext, highestmodseq, special_use, vanished_floor "
        "FROM mailbox WHERE account_id = %s ORDER BY name",
        (account_id,),
    ).fetchall()
    acc = AccountStore(name, datadir.account_dir(name), datadir.tmp)
    delivered: list[tuple[int, int, int]] = []  # (uid, modseq, SQLite message id)
    try:
        names = {str(b[1]) for b in boxes}
        for info in acc.mailboxes():
            if info.name not in names and info.name != INBOX:
                acc.delete_mailbox(info.name)  # a default mailbox deleted on PostgreSQL
        existing = {info.name for info in acc.mailboxes()}
        for box in boxes:
            box_name = str(box[1])
            if box_name not in existing:
                acc.create_mailbox(box_name)
            delivered += _copy_messages(
                conn, acc, datadir.tmp, col_int(box[0]), box_name, report, say, objects
            )
    finally:
        acc.close()
    report.accounts += 1
    report.mailboxes += len(boxes)
    db = open_db(datadir.account_dir(name) / INDEX_DB, STORE_MIGRATIONS)
    try:
        with transaction(db):
            _restore_identities(conn, db, account_id, boxes, delivered, counters)
    finally:
        db.close()


def _copy_messages(
    conn: SyncConn,
    acc: AccountStore,
    tmpdir: Path,
    mailbox_id: int,
    mailbox: str,
    report: CopyReport,
    say: Say,
    objects: ObjectStore | None,
) -> list[tuple[int, int, int]]:
    """Deliver the mailbox's messages in UID order, a page at a time: bodies
    are read in runs of at most BATCH_BYTES (or one larger body), written to
    files of tmp/, and the page delivered in one transaction
    (AccountStore.deliver_many, the files fsynced while it commits)."""
    out: list[tuple[int, int, int]] = []
    after = 0
    while True:
        page = conn.execute(
            "SELECT uid, modseq, flags, keywords, received, requiretls, body, size FROM message "
            "WHERE mailbox_id = %s AND uid > %s ORDER BY uid LIMIT %s",
            (mailbox_id, after, PAGE),
        ).fetchall()
        if not page:
            return out
        files: list[Path] = []
        try:
            deliveries = []
            for chunk in _by_size([(r, col_int(r[7])) for r in page], BATCH_BYTES):
                bodies = _read_bodies(conn, [col_bytes(r[6]) for r in chunk], objects)
                for r in chunk:
                    uid, digest = col_int(r[0]), col_bytes(r[6])
                    data = bodies.get(digest)
                    if data is None:
                        raise PgCopyError(
                            f"account {acc.name!r} mailbox {mailbox!r} UID {uid}: body "
                            f"{digest.hex()} is not in the database"
                            + ("" if objects is None else " nor in the object store")
                            + ", cannot copy it"
                        )
                    path = temp_path(tmpdir)
                    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                    write_message(path, b"", data, sync=False)
                    files.append(path)
                    report.bytes += len(data)
                    deliveries.append(
                        Delivery(
                            mailbox,
                            path,
                            flags=col_names(r[2]),
                            keywords=col_names(r[3]),
                            received=_time(r[4]),
                            requiretls=bool(r[5]),
                            size=len(data),
                            unsynced=True,
                        )
                    )
                del bodies
            results = acc.deliver_many(deliveries)
        finally:
            for path in files:
                path.unlink(missing_ok=True)
        for r, result in zip(page, results, strict=True):
            if isinstance(result, Exception):
                raise PgCopyError(
                    f"account {acc.name!r} mailbox {mailbox!r} UID {r[0]}: not delivered to the "
                    f"new data directory: {result}"
                )
            out.append((col_int(r[0]), col_int(r[1]), result.msgid))
        before = report.messages
        report.messages += len(page)
        if report.messages // PROGRESS_EVERY != before // PROGRESS_EVERY:
            say(f"{report.messages} messages copied ({report.accounts} accounts so far)")
        after = col_int(page[-1][0])


T = TypeVar("T")


def _by_size(items: list[tuple[T, int]], limit: int) -> list[list[T]]:
    """*items* (item, size) in order, in runs of at most *limit* bytes (a run
    holds at least one item)."""
    runs: list[list[T]] = []
    held = limit
    for item, size in items:
        if held + size > limit:
            runs.append([])
            held = 0
        runs[-1].append(item)
        held += size
    return runs


def _read_bodies(
    conn: SyncConn, digests: list[bytes], objects: ObjectStore | None
) -> dict[bytes, bytes]:
    """The bodies of *digests* held in the database (one query), and those
    kept in *objects* (data NULL; one GET each, checked against the SHA-256)."""
    rows = conn.execute(
        "SELECT sha256, data FROM body WHERE sha256 = ANY(%s)", (sorted(set(digests)),)
    ).fetchall()
    found: dict[bytes, bytes] = {}
    for r in rows:
        digest = col_bytes(r[0])
        if r[1] is not None:
            found[digest] = col_bytes(r[1])
        elif objects is not None:
            try:
                found[digest] = objects.get(digest)
            except PgObjectMissing:
                pass  # named as not copied by the caller
    return found


def _time(value: object) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"expected a timestamptz column, got {type(value).__name__}")
    return value


def _restore_identities(
    conn: SyncConn,
    db: sqlite3.Connection,
    account_id: int,
    boxes: list[tuple[object, ...]],
    delivered: list[tuple[int, int, int]],
    counters: tuple[int, int],
) -> None:
    """UIDs, modseqs and mailbox identities as they were on PostgreSQL."""
    ids = {str(r[1]): int(r[0]) for r in db.execute("SELECT id, name FROM mailbox")}
    db.execute("UPDATE mailbox SET special_use = ''")  # unique: set afresh below
    uses = special_uses({str(box[1]): str(box[5]) for box in boxes})
    for box in boxes:
        db.execute(
            "UPDATE mailbox SET uidvalidity = ?, uidnext = ?, highestmodseq = ?, "
            "special_use = ?, vanished_floor = ? WHERE name = ?",
            (box[2], box[3], box[4], uses[str(box[1])], box[6], box[1]),
        )
    for uid, modseq, msgid in uid_fixups(delivered):
        db.execute("UPDATE message SET uid = ?, modseq = ? WHERE id = ?", (uid, modseq, msgid))
    for box in boxes:
        target = ids[str(box[1])]
        rows = conn.execute(
            "SELECT uid, modseq FROM vanished WHERE mailbox_id = %s ORDER BY uid", (box[0],)
        ).fetchall()
        db.executemany(
            "INSERT INTO vanished (mailbox_id, uid, modseq) VALUES (?, ?, ?)",
            [(target, col_int(r[0]), col_int(r[1])) for r in rows],
        )
        db.execute("UPDATE mailbox SET vanished_rows = ? WHERE id = ?", (len(rows), target))
    modseq, next_uidvalidity = counters
    db.execute("UPDATE meta SET value = ? WHERE key = 'modseq'", (modseq,))
    db.execute("UPDATE meta SET value = ? WHERE key = 'next_uidvalidity'", (next_uidvalidity,))
    db.execute("DELETE FROM subscription")
    names = conn.execute(
        "SELECT name FROM subscription WHERE account_id = %s", (account_id,)
    ).fetchall()
    db.executemany("INSERT INTO subscription (name) VALUES (?)", [(str(r[0]),) for r in names])


def _copy_queue(conn: SyncConn, datadir: DataDir, report: CopyReport) -> None:
    datadir.queue_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    dst = open_db(datadir.queue_db, QUEUE_MIGRATIONS)
    try:
        after = 0
        while True:
            msgs = conn.execute(
                "SELECT id, created, sender_account, mail_from, size, requiretls, "
                "tls_required_no, is_tlsrpt, is_dmarc_report, smtputf8, eightbit, subject, "
                "message_id, data FROM queue_message WHERE id > %s ORDER BY id LIMIT %s",
                (after, PAGE),
            ).fetchall()
            if not msgs:
                return
            for m in msgs:
                _copy_queued(conn, dst, datadir, m)
                report.queued += 1
            after = col_int(msgs[-1][0])
    finally:
        dst.close()


def _copy_queued(
    conn: SyncConn, dst: sqlite3.Connection, datadir: DataDir, m: tuple[object, ...]
) -> None:
    data = col_bytes(m[13])
    msg_id = int(dst.execute("SELECT next FROM msgseq WHERE id = 1").fetchone()[0])
    target = message_path(datadir.queue_dir, msg_id)
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomic(target, data, tmpdir=target.parent)
    entries = conn.execute(
        "SELECT rcpt, domain, created, attempts, max_attempts, next_attempt, last_attempt, "
        "last_error, last_code, last_enhanced, remote_mta, hold, dsn_sent_delay "
        "FROM queue_entry WHERE msg_id = %s ORDER BY id",
        (m[0],),
    ).fetchall()
    with transaction(dst):
        dst.execute("UPDATE msgseq SET next = ? WHERE id = 1", (msg_id + 1,))
        dst.execute(
            "INSERT INTO message (id, created, sender_account, mail_from, size, requiretls, "
            "tls_required_no, is_tlsrpt, is_dmarc_report, smtputf8, eightbit, subject, "
            "message_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                msg_id,
                _when(m[1]),
                m[2],
                m[3],
                len(data),
                *(int(bool(v)) for v in m[5:11]),
                m[11],
                m[12],
            ),
        )
        dst.executemany(
            "INSERT INTO entry (msg_id, rcpt, domain, created, attempts, max_attempts, "
            "next_attempt, last_attempt, last_error, last_code, last_enhanced, remote_mta, "
            "hold, dsn_sent_delay) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    msg_id,
                    e[0],
                    e[1],
                    _when(e[2]),
                    e[3],
                    e[4],
                    _when(e[5]),
                    None if e[6] is None else _when(e[6]),
                    e[7],
                    e[8],
                    e[9],
                    e[10],
                    int(bool(e[11])),
                    int(bool(e[12])),
                )
                for e in entries
            ],
        )


def _when(value: object) -> str:
    if not isinstance(value, datetime):
        raise TypeError(f"expected a timestamptz column, got {type(value).__name__}")
    return sqlite_time(value)
