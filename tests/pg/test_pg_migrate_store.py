"""`postel migrate-store` round trips and `postel verifydata` on the PostgreSQL
store: generated test data (postel gentestdata, with removed UIDs, keywords,
a special-use mailbox and a subscription added) goes SQLite -> PostgreSQL ->
a new SQLite data directory, verifydata is clean on all three and each
account's mail, identities and passwords are what they were."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from pghelpers import LoopThread

from pgcluster import Cluster
from postel.cli.main import cli
from postel.datadir import DataDir, message_path
from postel.gentestdata import ACCOUNTS, Generated, generate
from postel.pg.accountstore import PgStore
from postel.pg.settings import PgSettings
from postel.pg.syncconn import sync_connect
from postel.pg.verify import verify_pg
from postel.store.credentials import Credentials
from postel.store.store import Store

Snapshot = dict[str, object]


def _enrich(data: Path) -> None:
    """Mail whose identities a naive copy would lose: UIDs with gaps (removed
    messages, listed as vanished), keywords, a flag change's modseq, a
    mailbox with a special use and a subscription to a name with no mailbox."""
    store = Store(DataDir(data), publish=lambda account, changes: None)
    try:
        acc = store.account("bob")
        acc.delete_mailbox("Archive")  # a default mailbox gone, its use elsewhere
        acc.create_mailbox("Archive/2025", special_use="\\Archive")
        kept = []
        for i in range(6):
            msg = acc.deliver_bytes(
                "Archive/2025",
                f"From: a@example.net\r\nSubject: m{i}\r\n\r\nbody {i}\r\n".encode(),
                flags=["\\Seen"] if i % 2 else [],
                keywords=["$Important"] if i == 3 else [],
            )
            kept.append(msg)
        acc.remove(kept[1].msgid)
        acc.remove(kept[4].msgid)
        acc.set_flags(kept[5].msgid, ["\\Flagged"], [])
        acc.subscribe("Lists/planned")
    finally:
        store.close()


def _snapshot(data: Path) -> Snapshot:
    """Per account: mailboxes with their identities, messages with UIDs, flags,
    modseqs, internal dates and body hashes, vanished UIDs, subscriptions."""
    out: Snapshot = {}
    for index in sorted((data / "accounts").glob("*/index.db")):
        db = sqlite3.connect(f"file:{index}?mode=ro", uri=True)
        try:
            boxes = {
                r[0]: r[1:]
                for r in db.execute(
                    "SELECT id, name, uidvalidity, uidnext, highestmodseq, special_use, "
                    "total, unseen, size FROM mailbox"
                )
            }
            messages = sorted(
                (
                    boxes[r[0]][0],
                    r[1],
                    r[2],
                    r[3],
                    r[4],
                    r[5],
                    hashlib.sha256(message_path(index.parent, r[6]).read_bytes()).hexdigest(),
                )
                for r in db.execute(
                    "SELECT mailbox_id, uid, flags, keywords, modseq, received, id FROM message"
                )
            )
            vanished = sorted(
                (boxes[r[0]][0], r[1], r[2])
                for r in db.execute("SELECT mailbox_id, uid, modseq FROM vanished")
            )
            meta = dict(
                db.execute(
                    "SELECT key, value FROM meta WHERE key IN ('modseq', 'next_uidvalidity')"
                )
            )
            out[index.parent.name] = {
                "mailboxes": sorted(boxes.values()),
                "messages": messages,
                "vanished": vanished,
                "subscriptions": sorted(r[0] for r in db.execute("SELECT name FROM subscription")),
                "meta": meta,
            }
        finally:
            db.close()
    queue = sqlite3.connect(f"file:{data / 'queue' / 'index.db'}?mode=ro", uri=True)
    try:
        out["queue"] = sorted(
            (r[0], r[1], r[2], r[3], r[4])
            for r in queue.execute(
                "SELECT e.rcpt, e.attempts, e.next_attempt, m.mail_from, m.size "
                "FROM entry e JOIN message m ON m.id = e.msg_id"
            )
        )
    finally:
        queue.close()
    return out


def _pg_config(gen: Generated, cluster: Cluster, dbname: str, where: Path) -> Path:
    """A copy of the generated config on the PostgreSQL store."""
    shutil.copytree(gen.config_dir, where)
    with (where / "postel.toml").open("a") as f:
        f.write(
            '\n[storage]\nbackend = "postgresql"\n'
            f'dsn = "{cluster.dsn(dbname, with_password=False)}"\n'
            f'password_file = "{cluster.password_file}"\n'
        )
    return where


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


@pytest.fixture
def gen(tmp_path: Path) -> Generated:
    made = generate(tmp_path / "gen")
    _enrich(made.data_dir)
    return made


def test_round_trip_through_postgresql(
    gen: Generated,
    tmp_path: Path,
    pg_cluster: Cluster,
    pg_database: str,
    pg_settings: PgSettings,
) -> None:
    data = gen.data_dir.resolve()
    before = _snapshot(data)
    bob = before["bob"]
    assert isinstance(bob, dict)
    assert len(bob["vanished"]) == 2 and "Lists/planned" in bob["subscriptions"]
    assert ("Archive/2025", "\\Archive") in [(m[0], m[4]) for m in bob["mailboxes"]]
    code, out = _run("verifydata", str(data))
    assert code == 0, out

    pgconfig = _pg_config(gen, pg_cluster, pg_database, gen.base / "pgconfig")
    code, out = _run("migrate-store", "to-postgresql", "--config", str(pgconfig))
    assert code == 0, out
    assert "copied 3 accounts" in out
    # What the PostgreSQL store does not keep is named, one line each.
    for left in ("tlsrpt.db", "mtasts.db", "accounts/alice/junk.db"):
        assert any(line.startswith(f"not copied: {left}:") for line in out.splitlines()), out

    code, out = _run("verifydata", "--config", str(pgconfig))
    assert code == 0, out
    assert out.startswith(f"PostgreSQL {pg_settings.where}: OK (3 accounts")

    copy = tmp_path / "back"
    code, out = _run("migrate-store", "to-sqlite", str(copy), "--config", str(pgconfig))
    assert code == 0, out
    code, out = _run("verifydata", str(copy))
    assert code == 0, out

    after = _snapshot(copy)
    assert after == before
    # The passwords work for a login on the copy (hashes copied as stored).
    with Credentials(copy / "auth.db") as creds:
        for name, (_, password) in ACCOUNTS.items():
            assert creds.verify(name, password)
            assert not creds.verify(name, password + "x")
        keys_after = {name: creds.scram_sha256(name) for name in ACCOUNTS}
    with Credentials(data / "auth.db") as creds:
        assert keys_after == {name: creds.scram_sha256(name) for name in ACCOUNTS}


def test_non_empty_database_refused_unless_replace(
    gen: Generated, tmp_path: Path, pg_cluster: Cluster, pg_database: str
) -> None:
    pgconfig = _pg_config(gen, pg_cluster, pg_database, gen.base / "pgconfig")
    assert _run("migrate-store", "to-postgresql", "--config", str(pgconfig))[0] == 0
    code, out = _run("migrate-store", "to-postgresql", "--config", str(pgconfig))
    assert code == 1
    assert "holds accounts, passwords or queued mail already" in out
    assert "Traceback" not in out
    code, out = _run("migrate-store", "to-postgresql", "--config", str(pgconfig), "--replace")
    assert code == 0, out
    code, out = _run("verifydata", "--config", str(pgconfig))
    assert code == 0, out


def test_to_sqlite_refuses_a_non_empty_directory(
    gen: Generated, tmp_path: Path, pg_cluster: Cluster, pg_database: str
) -> None:
    pgconfig = _pg_config(gen, pg_cluster, pg_database, gen.base / "pgconfig")
    code, out = _run("migrate-store", "to-sqlite", str(gen.data_dir), "--config", str(pgconfig))
    assert code == 1
    assert "exists and is not empty" in out


@pytest.mark.parametrize(
    ("damage", "reported"),
    [
        (
            "UPDATE body SET data = overlay(data placing 'X' from 1 for 1) WHERE sha256 = "
            "(SELECT sha256 FROM body ORDER BY sha256 LIMIT 1)",
            "content does not match its SHA-256",
        ),
        (
            "UPDATE message SET uid = uid + 1000 WHERE id = (SELECT min(id) FROM message)",
            "not below the mailbox's UIDNEXT",
        ),
        (
            "UPDATE message SET modseq = modseq + 1000 WHERE id = (SELECT min(id) FROM message)",
            "above the mailbox's HIGHESTMODSEQ",
        ),
        (
            "UPDATE mailbox SET total = total + 1 WHERE id = (SELECT min(id) FROM mailbox)",
            "counters",
        ),
        ("UPDATE queue_message SET size = size + 1", "bytes stored, its row says"),
        (
            # The unique index keeps this from happening; verifydata still
            # looks, for a database whose index was dropped.
            "DROP INDEX mailbox_special_use; "
            "UPDATE mailbox SET special_use = '\\Sent' WHERE name = 'Drafts'",
            "special use \\Sent on more than one mailbox",
        ),
    ],
)
def test_damaged_rows_are_reported(
    gen: Generated,
    tmp_path: Path,
    pg_cluster: Cluster,
    pg_database: str,
    pg_settings: PgSettings,
    damage: str,
    reported: str,
) -> None:
    pgconfig = _pg_config(gen, pg_cluster, pg_database, gen.base / "pgconfig")
    assert _run("migrate-store", "to-postgresql", "--config", str(pgconfig))[0] == 0
    with sync_connect(pg_settings) as conn:
        assert verify_pg(conn, "pg").ok
        conn.execute(damage.encode())
        result = verify_pg(conn, "pg")
    assert any(reported in p for p in result.problems), result.problems
    code, out = _run("verifydata", "--config", str(pgconfig))
    assert code == 1
    assert reported in out
    assert "problem(s) in" in out


def test_backup_on_postgresql_says_what_it_covers(
    gen: Generated, pg_cluster: Cluster, pg_database: str
) -> None:
    """The node-local files are backed up, the database is pointed at (pg_dump),
    and the local body cache and queue spool are neither warned about nor copied."""
    pgconfig = _pg_config(gen, pg_cluster, pg_database, gen.base / "pgconfig")
    data = gen.data_dir.resolve()
    for cache in (data / "pg-bodies" / "ab", data / "queue" / "pg-spool"):
        cache.mkdir(parents=True)
        (cache / "abcdef").write_bytes(b"cached body")
    code, out = _run("backup", str(gen.base / "bk"), "--config", str(pgconfig))
    assert code == 0, out
    notes = [line for line in out.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "pg_dump" in notes[0] and "node-local" in notes[0], out
    assert "warning" not in out
    assert not (gen.base / "bk" / "data" / "pg-bodies").exists()
    code, out = _run("verifydata", str(data))
    assert code == 0, out


def test_trimmed_removals_stay_incomplete_on_postgresql(
    gen: Generated,
    pg_cluster: Cluster,
    pg_database: str,
    pg_store: PgStore,
    loop_thread: LoopThread,
) -> None:
    """A SQLite mailbox that trimmed its removed UIDs (kept: the last N) tells
    QRESYNC its list is incomplete below the floor; so does its copy, both on
    PostgreSQL and back on SQLite (RFC 7162 §3.2.10)."""
    with Store(DataDir(gen.data_dir), publish=lambda account, changes: None) as store:
        acc = store.account("bob")
        acc.vanished_keep = 2
        for _ in range(6):
            acc.remove(acc.deliver_bytes("Inbox", b"Subject: s\r\n\r\nbody\r\n").msgid)
        floor_changes = acc.changes_since("Inbox", 0)
        assert not floor_changes.vanished_complete
        highest = floor_changes.highestmodseq
    pgconfig = _pg_config(gen, pg_cluster, pg_database, gen.base / "pgconfig")
    assert _run("migrate-store", "to-postgresql", "--config", str(pgconfig))[0] == 0

    bob = loop_thread.run(pg_store.account("bob"))
    changes = loop_thread.run(bob.changes_since("Inbox", 0))
    assert not changes.vanished_complete
    assert changes.vanished == floor_changes.vanished
    assert loop_thread.run(bob.changes_since("Inbox", highest)).vanished_complete

    copy = gen.base / "back"
    assert _run("migrate-store", "to-sqlite", str(copy), "--config", str(pgconfig))[0] == 0
    code, out = _run("verifydata", str(copy))
    assert code == 0, out
    with Store(DataDir(copy), publish=lambda account, changes: None) as store:
        back = store.account("bob").changes_since("Inbox", 0)
    assert not back.vanished_complete and back.vanished == floor_changes.vanished


def test_progress_lines_on_long_copies(
    gen: Generated, pg_cluster: Cluster, pg_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from postel.pg import copytopg, copytosqlite

    monkeypatch.setattr(copytopg, "PROGRESS_EVERY", 2)
    monkeypatch.setattr(copytosqlite, "PROGRESS_EVERY", 2)
    pgconfig = _pg_config(gen, pg_cluster, pg_database, gen.base / "pgconfig")
    code, out = _run("migrate-store", "to-postgresql", "--config", str(pgconfig))
    assert code == 0, out
    assert any(line.endswith("accounts so far)") for line in out.splitlines()), out
    code, out = _run(
        "migrate-store", "to-sqlite", str(gen.base / "back"), "--config", str(pgconfig)
    )
    assert code == 0, out
    assert any(line.endswith("accounts so far)") for line in out.splitlines()), out


def test_a_missing_message_file_fails_in_one_line_and_writes_nothing(
    gen: Generated, pg_cluster: Cluster, pg_database: str, pg_settings: PgSettings
) -> None:
    pgconfig = _pg_config(gen, pg_cluster, pg_database, gen.base / "pgconfig")
    data = gen.data_dir.resolve()
    index = sqlite3.connect(data / "accounts" / "bob" / "index.db")
    (last,) = index.execute("SELECT max(id) FROM message").fetchone()
    index.close()
    missing = message_path(data / "accounts" / "bob", last)
    missing.unlink()
    code, out = _run("migrate-store", "to-postgresql", "--config", str(pgconfig))
    assert code == 1
    (line,) = out.splitlines()
    assert line.startswith(f"Error: {missing}: account 'bob' message {last}: cannot read")
    with sync_connect(pg_settings) as conn:
        row = conn.execute("SELECT count(*) FROM account").fetchone()
    assert row is not None and row[0] == 0  # one transaction: nothing kept


def test_an_account_made_on_postgresql_moves_to_sqlite(
    tmp_path: Path,
    pg_settings: PgSettings,
    pg_store: PgStore,
    loop_thread: LoopThread,
) -> None:
    """Made and used on PostgreSQL (default mailboxes without special uses
    there): the SQLite copy has them with their uses, the mail and UIDs."""
    acct = loop_thread.run(pg_store.create_account("carol"))
    for i in range(3):
        loop_thread.run(acct.deliver("Sent", f"Subject: {i}\r\n\r\nx\r\n".encode()))
    first = loop_thread.run(acct.page("Sent", 0, 10))[0]
    loop_thread.run(acct.remove(first.msgid))
    copy = tmp_path / "copy"
    from postel.pg.copytosqlite import copy_to_sqlite

    report = copy_to_sqlite(pg_settings, copy, say=lambda line: None)
    assert (report.accounts, report.messages) == (1, 2)
    code, out = _run("verifydata", str(copy))
    assert code == 0, out
    with Store(DataDir(copy), publish=lambda account, changes: None) as store:
        acc = store.account("carol", create=False)
        uses = {m.name: m.special_use for m in acc.mailboxes()}
        sent = acc.changes_since("Sent", 0)
        uids = list(acc.uids("Sent"))
    assert uses["Sent"] == "\\Sent" and uses["Trash"] == "\\Trash"
    assert uids == [2, 3] and sent.vanished == [1]
