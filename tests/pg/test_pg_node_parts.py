"""The PostgreSQL store as a node's parts get it (postel.pg.nodeparts), the
account commands on it, and the parts refused on this backend (the junk
filter)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from click.testing import CliRunner
from pghelpers import LoopThread, open_migrated
from test_pg_config import DOMAINS, STATIC

from pgcluster import Cluster
from postel.cli.main import cli
from postel.config import load_config
from postel.pg.accountstore import PgStore
from postel.pg.credentials import PgCredentials
from postel.pg.nodeparts import PgAccounts, PgPasswords
from postel.pg.settings import PgSettings

MESSAGE = b"From: bob@example.org\r\nSubject: hi\r\n\r\nhello\r\n"


def test_delivery_and_logins_through_the_node_parts(
    tmp_path: Path, loop_thread: LoopThread, pg_settings: PgSettings
) -> None:
    pool = loop_thread.run(open_migrated(pg_settings))
    try:
        loop_thread.run(PgCredentials(pool).set_password("alice", "a long password"))
        accounts = PgAccounts(PgStore(pool), loop_thread.loop, tmp_path / "bodies")
        path = tmp_path / "msg"
        done, error = loop_thread.run(
            accounts.write_and_deliver(
                [("alice", "Inbox"), ("bob", "Archive")], path, b"X-Test: 1\r\n", MESSAGE
            )
        )
        assert error is None
        assert [(name, m.mailbox, m.uid) for name, m in done] == [
            ("alice", "Inbox", 1),
            ("bob", "Archive", 1),
        ]
        assert path.read_bytes() == b"X-Test: 1\r\n" + MESSAGE  # left for the caller
        # IMAP's view, from a session's thread: the account made on first use.
        store = accounts.mailstore("bob")
        with store.open_message(store.get_by_uid("Archive", 1).msgid) as fp:
            assert fp.read() == b"X-Test: 1\r\n" + MESSAGE
        assert set(store.subscriptions()) >= {"Inbox", "Archive"}
        assert accounts.account_names() == ["alice", "bob"]
        # A delivery that fails returns its error (the SMTP session answers 4xx).
        done, error = loop_thread.run(accounts.deliver_bytes([("alice", "a\x00b")], MESSAGE))
        assert done == [] and error is not None
        passwords = PgPasswords(PgCredentials(pool), loop_thread.loop)
        assert passwords.verify("alice", "a long password")
        assert not passwords.verify("alice", "wrong")
        assert not passwords.verify("nobody", "a long password")
        salt, iterations, _, _ = passwords.scram_sha256_or_decoy("nobody")
        assert salt and iterations > 0
    finally:
        loop_thread.run(pool.close())


def _config(d: Path, pg_cluster: Cluster, dbname: str, extra: str = "") -> Path:
    d.mkdir(exist_ok=True)
    (d / "postel.toml").write_text(
        STATIC.format(dsn=pg_cluster.dsn(dbname, with_password=False)) + extra
    )
    (d / "domains.toml").write_text(DOMAINS)
    (d / "pgpassword").write_text(pg_cluster.password + "\n")
    return d


def test_account_commands_act_on_the_postgresql_store(
    tmp_path: Path, pg_cluster: Cluster, pg_database: str, pg_settings: PgSettings
) -> None:
    d = _config(tmp_path / "config", pg_cluster, pg_database)
    run = CliRunner().invoke
    assert run(cli, ["config", "migrate-db", "--config", str(d)]).exit_code == 0
    pw = tmp_path / "pw"
    pw.write_text("first password of bob\n")
    added = run(
        cli,
        [
            "account",
            "add",
            "--config",
            str(d),
            "bob",
            "bob@example.com",
            "--password-file",
            str(pw),
        ],
    )
    assert added.exit_code == 0, added.output
    pw.write_text("second password of bob\n")
    changed = run(cli, ["account", "passwd", "--config", str(d), "bob", "--password-file", str(pw)])
    assert changed.exit_code == 0, changed.output
    listed = run(cli, ["account", "list", "--config", str(d), "--json"])
    assert '"password": true' in listed.output

    async def check() -> tuple[bool, bool, list[str]]:
        pool = await open_migrated(pg_settings)
        try:
            creds = PgCredentials(pool)
            bob = await PgStore(pool).account("bob")
            return (
                await creds.verify("bob", "second password of bob"),
                await creds.verify("bob", "first password of bob"),
                [m.name for m in await bob.mailboxes()],
            )
        finally:
            await pool.close()

    new_ok, old_ok, boxes = asyncio.run(check())
    assert new_ok and not old_ok and "Inbox" in boxes
    # Nothing went to the data directory's SQLite files.
    assert not (d / "data" / "auth.db").exists()
    assert not (d / "data" / "accounts").exists()


def test_webmail_and_admin_are_accepted_on_postgresql(tmp_path: Path, pg_cluster: Cluster) -> None:
    extra = (
        '[listeners.web]\nips = ["127.0.0.1"]\nsmtp = { enabled = false }\n'
        "submission = { enabled = false }\nsubmissions = { enabled = false }\n"
        "[listeners.web.web]\nenabled = true\ntls = false\nwebmail = true\nadmin = true\n"
    )
    d = _config(tmp_path / "config", pg_cluster, "postel", extra)
    web = load_config(d).static.listeners["web"].web
    assert web.enabled and web.webmail and web.admin


def test_the_junk_filter_runs_on_postgresql(tmp_path: Path, pg_cluster: Cluster) -> None:
    d = _config(tmp_path / "config", pg_cluster, "postel")
    # Its default (on) applies as on SQLite, and asking for it is accepted.
    assert load_config(d).static.junk.enabled
    with (d / "postel.toml").open("a") as f:
        f.write("\n[junk]\nenabled = true\n")
    assert load_config(d).static.junk.enabled


def test_queue_commands_show_the_shared_queue(
    tmp_path: Path, pg_cluster: Cluster, pg_database: str, pg_settings: PgSettings
) -> None:
    from postel.pg.queue import PgQueueEntries

    d = _config(tmp_path / "config", pg_cluster, pg_database)
    run = CliRunner().invoke
    assert run(cli, ["config", "migrate-db", "--config", str(d)]).exit_code == 0
    node = PgQueueEntries(pg_settings, tmp_path / "spool", node="other-node")
    try:
        (entry,) = node.add("alice", "alice@example.com", ["bob@example.org"], MESSAGE)
    finally:
        node.close()
    listed = run(cli, ["queue", "list", "--config", str(d)])
    assert listed.exit_code == 0, listed.output
    assert f"{entry}\t" in listed.output and "alice@example.com -> bob@example.org" in listed.output
    held = run(cli, ["queue", "hold", "--config", str(d), str(entry)])
    assert held.exit_code == 0, held.output
    assert "HELD" in run(cli, ["queue", "list", "--config", str(d)]).output
    assert not (d / "data" / "queue" / "index.db").exists()  # DataDir.queue_db


def test_delivery_outcomes_are_remembered_by_the_sender_account(
    tmp_path: Path, loop_thread: LoopThread, pg_settings: PgSettings
) -> None:
    """The queue's recorder (in its thread) keeps what deliveries saw of
    recipient domains in the sender's account on PostgreSQL too, as the
    webmail's recipient-security panel reads it."""
    from postel.delivery import DeliveryOutcome, DomainSecurity
    from postel.queue.recorder import AttemptRecord, OutcomeRecorder

    pool = loop_thread.run(open_migrated(pg_settings))
    try:
        accounts = PgAccounts(PgStore(pool), loop_thread.loop, tmp_path / "bodies")
        loop_thread.run(accounts.deliver_bytes([("alice", "Inbox")], MESSAGE))
        recorder = OutcomeRecorder(None, None, accounts)
        learned = (
            DomainSecurity("alice", "tls.test", True, False),
            DomainSecurity("alice", "plain.test", False, None),
        )
        loop_thread.run(recorder.record(AttemptRecord(DeliveryOutcome((), learned=learned))))
        mail = accounts.account("alice")
        tls, plain = mail.domain_security("tls.test"), mail.domain_security("plain.test")
        assert (tls.starttls, tls.requiretls) == (True, False)
        assert (plain.starttls, plain.requiretls) == (False, None)
    finally:
        loop_thread.run(pool.close())


def test_imap_reads_a_body_from_the_nodes_copy_once_it_has_one(
    tmp_path: Path, loop_thread: LoopThread, pg_settings: PgSettings
) -> None:
    """Only the body's hash is read from the database when the node has its
    copy; a copy cut short (not fsynced, a crash) is written again."""
    pool = loop_thread.run(open_migrated(pg_settings))

    async def sql(statement: str) -> None:
        async with pool.connection() as conn:
            await conn.execute(statement.encode())

    try:
        accounts = PgAccounts(PgStore(pool), loop_thread.loop, tmp_path / "bodies")
        done, error = loop_thread.run(accounts.deliver_bytes([("alice", "Inbox")], MESSAGE))
        assert error is None
        store = accounts.mailstore("alice")
        msgid = done[0][1].msgid
        with store.open_message(msgid) as fp:
            assert fp.read() == MESSAGE
        # The database's content changed behind the node's back: the copy is read.
        loop_thread.run(sql("UPDATE body SET data = 'changed'"))
        with store.open_message(msgid) as fp:
            assert fp.read() == MESSAGE
        loop_thread.run(sql(f"UPDATE body SET data = '\\x{MESSAGE.hex()}'::bytea"))
        (copy,) = [p for p in (tmp_path / "bodies").rglob("*") if p.is_file()]
        copy.write_bytes(MESSAGE[:3])
        with store.open_message(msgid) as fp:
            assert fp.read() == MESSAGE
        assert copy.read_bytes() == MESSAGE
    finally:
        loop_thread.run(pool.close())
