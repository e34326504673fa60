"""verifydata on generated data and on copies damaged in known ways."""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import postel
from postel.cli.main import cli
from postel.datadir import message_path
from postel.gentestdata import Generated, GenTestDataError, generate
from postel.verifydata import NotADataDir, verify
from postel.verifydata.accounts import open_accounts


def test_generated_data_passes(gen: Generated) -> None:
    result = verify(gen.data_dir)
    assert result.problems == []
    # auth, 3 accounts, queue, mtasts, tlsrpt, dmarcrpt, tlsrptresult, dmarceval
    assert result.databases == 11  # junk.db of alice (gentestdata) included
    assert result.message_files == 3


def test_generated_data_contents(gen: Generated) -> None:
    from postel.datadir import DataDir
    from postel.store import Store

    with Store(DataDir(gen.data_dir)) as store:
        assert store.account_names() == ["alice", "bob", "joerg"]
        assert store.account("bob").stats().messages == 0
        inbox = store.account("alice").list_messages("Inbox")
        assert [m.subject for m in inbox] == ["Hello Alice"]
        sent = store.account("joerg").list_messages("Sent")
        assert sent[0].flags == {"\\Seen", "\\Answered", "\\Flagged"}
        assert "$Forwarded" in sent[0].keywords
    for name in (
        "dmarcrpt.db",
        "tlsrpt.db",
        "mtasts.db",
        "tlsrptresult.db",
        "dmarceval.db",
        "queue/index.db",
    ):
        conn = sqlite3.connect(gen.data_dir / name)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        main = {
            "dmarcrpt.db": "report",
            "tlsrpt.db": "report",
            "mtasts.db": "policy",
            "tlsrptresult.db": "result",
            "dmarceval.db": "evaluation",
            "queue/index.db": "entry",
        }[name]
        assert main in tables
        assert conn.execute(f"SELECT count(*) FROM {main}").fetchone()[0] >= 1, name
        conn.close()


def test_gentestdata_refuses_existing_dir(tmp_path: Path) -> None:
    with pytest.raises(GenTestDataError, match="already exists"):
        generate(tmp_path)


def test_verify_is_read_only(gen: Generated) -> None:
    def snapshot() -> dict[str, tuple[int, int]]:
        return {
            str(p.relative_to(gen.data_dir)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in gen.data_dir.rglob("*")
            if p.is_file() and not p.name.endswith(("-wal", "-shm"))
        }

    before = snapshot()
    verify(gen.data_dir)
    assert snapshot() == before


def _msg(gen: Generated, account: str, msgid: int = 1) -> Path:
    return message_path(gen.data_dir / "accounts" / account, msgid)


def test_truncated_message_file(gen: Generated) -> None:
    path = _msg(gen, "alice")
    size = path.stat().st_size
    os.truncate(path, 10)
    problems = verify(gen.data_dir).problems
    assert problems == [
        f"accounts/alice/index.db: message 1: file accounts/alice/msg/0/1 has 10 bytes, "
        f"the record says {size}"
    ]


def test_missing_message_file(gen: Generated) -> None:
    _msg(gen, "joerg").unlink()
    problems = verify(gen.data_dir).problems
    assert problems == [
        "accounts/joerg/index.db: message 1: file accounts/joerg/msg/0/1 is missing"
    ]


def test_missing_queue_file(gen: Generated) -> None:
    message_path(gen.data_dir / "queue", 1).unlink()
    assert verify(gen.data_dir).problems == [
        "queue/index.db: message 1: file queue/msg/0/1 is missing"
    ]


def test_unknown_files(gen: Generated) -> None:
    (gen.data_dir / "stray.txt").write_text("x")
    _msg(gen, "alice", 77).write_text("not indexed")
    problems = verify(gen.data_dir).problems
    assert problems == [
        "accounts/alice/msg/0/77: unknown file (no database record refers to it)",
        "stray.txt: unknown file (no database record refers to it)",
    ]


def test_fix_moves_unknown_files_aside(gen: Generated) -> None:
    (gen.data_dir / "stray.txt").write_text("x")
    result = verify(gen.data_dir, fix=True)
    assert result.problems == []
    assert len(result.fixed) == 1 and "stray.txt" in result.fixed[0]
    assert not (gen.data_dir / "stray.txt").exists()
    moved = list((gen.data_dir / "moved-aside").rglob("stray.txt"))
    assert len(moved) == 1 and moved[0].read_text() == "x"
    assert verify(gen.data_dir).problems == []


def test_broken_database(gen: Generated) -> None:
    path = gen.data_dir / "tlsrpt.db"
    data = bytearray(path.read_bytes())
    # Overwrite the pages after the first with garbage: the b-trees are broken.
    for i in range(4096, len(data)):
        data[i] = (i * 7) % 256
    path.write_bytes(bytes(data))
    problems = verify(gen.data_dir).problems
    assert problems and all(p.startswith("tlsrpt.db: ") for p in problems)
    assert any("integrity" in p or "not a usable" in p for p in problems), problems


def test_not_a_database(gen: Generated) -> None:
    (gen.data_dir / "mtasts.db").write_bytes(b"this is not sqlite" * 100)
    for side in ("-wal", "-shm"):
        (gen.data_dir / f"mtasts.db{side}").unlink(missing_ok=True)
    problems = verify(gen.data_dir).problems
    assert len(problems) == 1 and problems[0].startswith("mtasts.db: "), problems


def test_account_counters(gen: Generated) -> None:
    conn = sqlite3.connect(gen.data_dir / "accounts/alice/index.db")
    conn.execute("UPDATE mailbox SET total = 5 WHERE name = 'Inbox'")
    conn.commit()
    conn.close()
    problems = verify(gen.data_dir).problems
    assert len(problems) == 1
    assert "mailbox 'Inbox' counters total/unseen/size 5/1/" in problems[0]


def test_trimmed_removed_uids_pass(gen: Generated) -> None:
    from postel.datadir import DataDir
    from postel.store import Store

    with Store(DataDir(gen.data_dir)) as store:
        acc = store.account("bob")
        acc.vanished_keep = 2
        for _ in range(6):
            acc.remove(acc.deliver_bytes("Inbox", b"Subject: s\r\n\r\nbody\r\n").msgid)
        assert not acc.changes_since("Inbox", 0).vanished_complete
    assert verify(gen.data_dir).problems == []
    assert open_accounts(gen.data_dir)[1] == []  # AccountStore.check() too
    conn = sqlite3.connect(gen.data_dir / "accounts/bob/index.db")
    conn.execute("UPDATE mailbox SET vanished_rows = vanished_rows + 1 WHERE name = 'Inbox'")
    conn.commit()
    conn.close()
    problems = verify(gen.data_dir).problems
    assert len(problems) == 1 and "removed UIDs but keeps" in problems[0]


def test_uid_not_below_uidnext(gen: Generated) -> None:
    conn = sqlite3.connect(gen.data_dir / "accounts/alice/index.db")
    conn.execute("UPDATE mailbox SET uidnext = 1 WHERE name = 'Inbox'")
    conn.commit()
    conn.close()
    problems = verify(gen.data_dir).problems
    assert problems == ["accounts/alice/index.db: message 1 in 'Inbox' has uid 1 >= uidnext 1"]


def test_unparsable_records(gen: Generated) -> None:
    conn = sqlite3.connect(gen.data_dir / "mtasts.db")
    conn.execute("UPDATE policy SET policy = '{broken'")
    conn.commit()
    conn.close()
    conn = sqlite3.connect(gen.data_dir / "accounts/joerg/index.db")
    conn.execute("UPDATE message SET received = 'yesterday'")
    conn.commit()
    conn.close()
    problems = verify(gen.data_dir).problems
    assert len(problems) == 2
    assert problems[0].startswith("accounts/joerg/index.db: message 1: ")
    assert problems[1].startswith("mtasts.db: policy 'remote.example': CorruptRow")


def test_schema_too_new(gen: Generated) -> None:
    conn = sqlite3.connect(gen.data_dir / "dmarcrpt.db")
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    problems = verify(gen.data_dir).problems
    assert problems == ["dmarcrpt.db: schema version 99 is newer than this program knows (1)"]


def test_schema_differs(gen: Generated) -> None:
    conn = sqlite3.connect(gen.data_dir / "auth.db")
    conn.execute("CREATE TABLE extra (x)")
    conn.close()
    assert verify(gen.data_dir).problems == ["auth.db: schema: unexpected table 'extra'"]


def test_version_file(gen: Generated) -> None:
    (gen.data_dir / "postel.version").write_text("99.0.0\n")
    problems = verify(gen.data_dir).problems
    assert problems == [
        f"postel.version: written by postel 99.0.0, newer than this program ({postel.__version__})"
    ]


def test_not_a_data_dir(tmp_path: Path) -> None:
    with pytest.raises(NotADataDir):
        verify(tmp_path)


def test_cli_ok_and_problems(gen: Generated) -> None:
    runner = CliRunner()
    ok = runner.invoke(cli, ["verifydata", str(gen.data_dir)])
    assert ok.exit_code == 0
    assert ok.output == f"{gen.data_dir}: OK\n"
    _msg(gen, "alice").unlink()
    bad = runner.invoke(cli, ["verifydata", str(gen.data_dir)])
    assert bad.exit_code == 1
    assert (
        "accounts/alice/index.db: message 1: file accounts/alice/msg/0/1 is missing" in bad.output
    )


def test_cli_migrate(gen: Generated) -> None:
    result = CliRunner().invoke(cli, ["verifydata", "--migrate", str(gen.data_dir)])
    assert result.exit_code == 0, result.output


def test_older_schema_is_checked_as_migrated(
    gen: Generated, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database from an earlier release is checked as the current code will
    see it (migrated in memory); the file itself is left alone."""
    import types

    from postel.databases import Database
    from postel.store.credentials import MIGRATIONS
    from postel.verifydata.dbcheck import check_database

    fake = types.ModuleType("fake_migrations")
    fake.MIGRATIONS = [
        *MIGRATIONS,
        "ALTER TABLE password ADD COLUMN note TEXT NOT NULL DEFAULT '';",
    ]
    fake.BROKEN = [*MIGRATIONS, "ALTER TABLE nosuchtable ADD COLUMN x;"]
    monkeypatch.setitem(sys.modules, "fake_migrations", fake)
    path = gen.data_dir / "auth.db"
    check = "postel.verifydata.records:check_auth"
    newer = check_database(
        Database("auth", "auth.db", "fake_migrations:MIGRATIONS", check), path, gen.data_dir
    )
    n = len(MIGRATIONS)
    assert (newer.version, newer.current, newer.problems) == (n, n + 1, [])
    assert newer.notes == [
        f"auth.db: schema version {n}, migrated to {n + 1} when postel next opens it"
    ]
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == n
    conn.close()
    broken = check_database(
        Database("auth", "auth.db", "fake_migrations:BROKEN", check), path, gen.data_dir
    )
    assert len(broken.problems) == 1
    assert f"migration to version {n + 1} failed" in broken.problems[0]


def _above_checkpoint(gen: Generated, account: str) -> None:
    """Put the account's mail above its recovery checkpoint, as a crash of a
    server that delivered it leaves it (store/recovery.py)."""
    db = gen.data_dir / "accounts" / account / "index.db"
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE meta SET value = 0 WHERE key = 'files_checked_through'")
    conn.close()


def test_file_cut_short_by_a_crash_above_the_checkpoint_is_a_note(gen: Generated) -> None:
    _above_checkpoint(gen, "alice")
    os.truncate(_msg(gen, "alice"), 10)
    _above_checkpoint(gen, "joerg")
    _msg(gen, "joerg").unlink()
    result = verify(gen.data_dir)
    assert result.problems == []
    notes = [n for n in result.notes if "never acknowledged" in n]
    assert len(notes) == 2
    assert notes[0].startswith("accounts/alice/index.db: message 1: file accounts/alice/msg/0/1 ")
    assert notes[1].startswith("accounts/joerg/index.db: message 1: file accounts/joerg/msg/0/1 ")


def test_longer_file_above_the_checkpoint_is_still_a_problem(gen: Generated) -> None:
    _above_checkpoint(gen, "alice")
    with open(_msg(gen, "alice"), "ab") as f:
        f.write(b"more")
    assert len(verify(gen.data_dir).problems) == 1
