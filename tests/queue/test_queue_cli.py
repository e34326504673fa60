"""`postel queue list/retry/hold/drop` on a config dir written here."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from queue_env import MESSAGE, write_config

from postel.cli.queue import command
from postel.config import load_config
from postel.queue import QueueDB

FUTURE = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    return write_config(tmp_path / "config")


def run(config_dir: Path, *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(
        command, [args[0], "--config", str(config_dir), *args[1:]], input=input
    )


def queue_db(config_dir: Path) -> QueueDB:
    return QueueDB.open(load_config(config_dir).datadir)


def add(config_dir: Path, rcpts: list[str], mail_from: str = "alice@example.org") -> list[int]:
    db = queue_db(config_dir)
    try:
        ids = db.add(
            MESSAGE,
            account="alice",
            mail_from=mail_from,
            rcpts=rcpts,
            requiretls=False,
            tls_required_no=False,
            is_tlsrpt=False,
            is_dmarc_report=False,
            smtputf8=False,
            eightbit=False,
            max_attempts=20,
            now=dt.datetime.now(dt.UTC),
            subject="Hello there",
        )
        for i in ids:
            db.reschedule(i, FUTURE, error="451 4.4.1 try later", code=451)
        return ids
    finally:
        db.close()


def test_list_empty(config_dir: Path) -> None:
    r = run(config_dir, "list")
    assert r.exit_code == 0 and "queue is empty" in r.output
    r = run(config_dir, "list", "--json")
    assert r.exit_code == 0 and json.loads(r.output) == []


def test_list_text_and_json(config_dir: Path) -> None:
    ids = add(config_dir, ["a@remote.test", "b@other.test"])
    r = run(config_dir, "list")
    assert r.exit_code == 0, r.output
    assert f"{ids[0]}\tmsg 1\talice@example.org -> a@remote.test" in r.output
    # FUTURE is fixed at import; in a long run some minutes may have passed since.
    left = int((FUTURE - dt.datetime.now(dt.UTC)).total_seconds() // 60)
    assert any(f"next in {m}m" in r.output for m in (left, left + 1)) or "next in 1h" in r.output
    assert "last error: 451 4.4.1 try later" in r.output
    r = run(config_dir, "list", "--json")
    data = json.loads(r.output)
    assert [d["rcpt"] for d in data] == ["a@remote.test", "b@other.test"]
    assert data[0]["domain"] == "remote.test" and data[0]["subject"] == "Hello there"
    assert data[0]["hold"] is False and data[0]["attempts"] == 0


def test_hold_release_and_retry(config_dir: Path) -> None:
    [i, j] = add(config_dir, ["a@remote.test", "b@remote.test"])
    r = run(config_dir, "hold", str(i))
    assert r.exit_code == 0 and f"entry {i} held" in r.output
    assert json.loads(run(config_dir, "list", "--json").output)[0]["hold"] is True
    assert "HELD" in run(config_dir, "list").output
    r = run(config_dir, "hold", str(i), "--release")
    assert r.exit_code == 0 and "released" in r.output
    run(config_dir, "hold", str(i))
    r = run(config_dir, "retry", str(i))
    assert r.exit_code == 0 and "1 entry scheduled" in r.output
    db = queue_db(config_dir)
    try:
        e = db.get(i)
        assert not e.hold and e.next_attempt <= dt.datetime.now(dt.UTC)
        assert db.get(j).next_attempt == FUTURE  # the other one untouched
    finally:
        db.close()
    r = run(config_dir, "retry", "--all")
    assert r.exit_code == 0 and "2 entries scheduled" in r.output


def test_retry_needs_exactly_one_target(config_dir: Path) -> None:
    r = run(config_dir, "retry")
    assert r.exit_code == 1 and "give an entry ID or --all" in r.stderr
    r = run(config_dir, "retry", "5", "--all")
    assert r.exit_code == 1


def test_unknown_entry(config_dir: Path) -> None:
    for args in (("retry", "99"), ("hold", "99"), ("drop", "99", "--yes")):
        r = run(config_dir, *args)
        assert r.exit_code == 1 and "no queue entry with id 99" in r.stderr, args


def test_drop_asks_and_says_no_dsn(config_dir: Path) -> None:
    [i, j] = add(config_dir, ["a@remote.test", "b@remote.test"])
    r = run(config_dir, "drop", str(i), input="n\n")
    assert r.exit_code != 0 and "gets no delivery status notification" in r.stderr
    assert len(json.loads(run(config_dir, "list", "--json").output)) == 2
    r = run(config_dir, "drop", str(i), input="y\n")
    assert r.exit_code == 0 and "gets no DSN" in r.output
    r = run(config_dir, "drop", str(j), "--yes")
    assert r.exit_code == 0
    assert json.loads(run(config_dir, "list", "--json").output) == []
    files = [
        p for p in (load_config(config_dir).datadir.queue_dir / "msg").rglob("*") if p.is_file()
    ]
    assert files == []  # the message file goes with its last entry


def test_bad_config_dir(tmp_path: Path) -> None:
    r = run(tmp_path / "nope", "list")
    assert r.exit_code == 1 and "error:" in r.stderr
