"""backup of generated data: snapshots, links, unknown and new files, refusals."""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

import postel
from postel.backup import BackupError, DestinationExists, backup
from postel.backup import files as backup_files
from postel.cli.main import cli
from postel.datadir import message_path
from postel.gentestdata import Generated
from postel.verifydata import verify


def test_backup_verifies_and_links(gen: Generated, tmp_path: Path) -> None:
    dest = tmp_path / "bk"
    warnings: list[str] = []
    summary = backup(gen.config_dir, gen.data_dir, dest, warn=warnings.append)
    assert summary.ok and warnings == []
    assert (summary.databases, summary.linked, summary.copied) == (11, 3, 0)
    assert verify(dest / "data").problems == []
    assert (dest / "config" / "domains.toml").read_bytes() == (
        gen.config_dir / "domains.toml"
    ).read_bytes()
    assert (dest / "data" / "postel.version").read_text() == postel.__version__ + "\n"
    src = message_path(gen.data_dir / "accounts" / "alice", 1)
    dst = message_path(dest / "data" / "accounts" / "alice", 1)
    assert os.path.samefile(src, dst)  # hard link
    assert not (dest / "data" / "tmp").exists()
    assert summary.line().endswith("ok: 11 databases, 3 message files (3 linked, 0 copied)")


def test_backup_is_a_snapshot_not_a_live_view(gen: Generated, tmp_path: Path) -> None:
    backup(gen.config_dir, gen.data_dir, tmp_path / "bk")
    conn = sqlite3.connect(gen.data_dir / "auth.db")
    conn.execute("DELETE FROM password")
    conn.commit()
    conn.close()
    conn = sqlite3.connect(tmp_path / "bk" / "data" / "auth.db")
    assert conn.execute("SELECT count(*) FROM password").fetchone()[0] == 3
    conn.close()


def test_refuses_existing_destination(gen: Generated, tmp_path: Path) -> None:
    dest = tmp_path / "bk"
    dest.mkdir()
    with pytest.raises(DestinationExists):
        backup(gen.config_dir, gen.data_dir, dest)
    assert list(dest.iterdir()) == []


def test_refuses_destination_inside_data(gen: Generated) -> None:
    with pytest.raises(BackupError, match="inside"):
        backup(gen.config_dir, gen.data_dir, gen.data_dir / "bk")


def test_unknown_file_copied_with_warning(gen: Generated, tmp_path: Path) -> None:
    (gen.data_dir / "notes.txt").write_text("mine")
    warnings: list[str] = []
    summary = backup(gen.config_dir, gen.data_dir, tmp_path / "bk", warn=warnings.append)
    assert summary.ok and summary.unknown == 1
    assert warnings == ["notes.txt: unknown file (no database record refers to it), copied"]
    assert (tmp_path / "bk" / "data" / "notes.txt").read_text() == "mine"


def test_files_added_after_snapshot_are_skipped(gen: Generated, tmp_path: Path) -> None:
    # A file above the snapshot's highest id: a delivery in progress.
    new = message_path(gen.data_dir / "accounts" / "alice", 2)
    new.write_bytes(b"Subject: new\r\n\r\nbody\r\n")
    warnings: list[str] = []
    summary = backup(gen.config_dir, gen.data_dir, tmp_path / "bk", warn=warnings.append)
    assert summary.ok and warnings == [] and summary.skipped_new == 1
    assert not message_path(tmp_path / "bk" / "data" / "accounts" / "alice", 2).exists()
    assert verify(tmp_path / "bk" / "data").problems == []


def test_file_deleted_during_backup_is_left_out(
    gen: Generated, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A message removed after the snapshot (row, then file) is left out of the
    backup with the mailbox counters adjusted."""
    from postel.backup import run as backup_run

    real_snapshot = backup_run.snapshot

    def snapshot_then_delete(source: Path, dest: Path, files: object) -> object:
        snap = real_snapshot(source, dest, files)  # type: ignore[arg-type]
        if source.name == "index.db" and source.parent.name == "alice":
            from postel.datadir import DataDir
            from postel.store import Store

            with Store(DataDir(gen.data_dir)) as store:
                store.account("alice").remove(1)
        return snap

    monkeypatch.setattr(backup_run, "snapshot", snapshot_then_delete)
    summary = backup(gen.config_dir, gen.data_dir, tmp_path / "bk")
    assert summary.ok and summary.forgotten == 1
    assert verify(tmp_path / "bk" / "data").problems == []


def test_copies_with_one_warning_across_devices(
    gen: Generated, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def no_link(src: object, dst: object, **kw: object) -> None:
        calls.append(src)
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(backup_files.os, "link", no_link)
    warnings: list[str] = []
    summary = backup(gen.config_dir, gen.data_dir, tmp_path / "bk", warn=warnings.append)
    assert summary.ok and (summary.linked, summary.copied) == (0, 3)
    assert len(warnings) == 1 and "copying message files instead" in warnings[0]
    assert len(calls) == 1  # no further link attempts after the first failure
    assert verify(tmp_path / "bk" / "data").problems == []


def test_missing_source_file_is_an_error(gen: Generated, tmp_path: Path) -> None:
    message_path(gen.data_dir / "accounts" / "joerg", 1).unlink()
    summary = backup(gen.config_dir, gen.data_dir, tmp_path / "bk")
    assert not summary.ok
    assert summary.errors[0].startswith("accounts/joerg/index.db: message 1: file ")
    assert "FAILED: 1 error(s)" in summary.line()


def test_cli(gen: Generated, tmp_path: Path) -> None:
    runner = CliRunner()
    dest = tmp_path / "bk"
    result = runner.invoke(cli, ["backup", "--config", str(gen.config_dir), str(dest)])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1].startswith("backup of ")
    again = runner.invoke(cli, ["backup", "--config", str(gen.config_dir), str(dest)])
    assert again.exit_code == 1
    assert "already exists" in again.output


def test_backup_and_verifydata_of_a_running_server(gen: Generated, tmp_path: Path) -> None:
    """A running server has its lock and its control socket in the data
    directory: verifydata knows them, backup leaves them out without a warning,
    and a socket nobody knows is left out with one (copying a socket failed
    with ENXIO before, failing the whole backup)."""
    import socket

    from postel.owner import OwnerLock

    lock = OwnerLock(gen.data_dir)
    lock.acquire()
    control = socket.socket(socket.AF_UNIX)
    stray = socket.socket(socket.AF_UNIX)
    try:
        control.bind(str(gen.data_dir / "control.sock"))
        stray.bind(str(gen.data_dir / "accounts" / "stray.sock"))
        assert verify(gen.data_dir).problems == [
            "accounts/stray.sock: unknown file (no database record refers to it)"
        ]
        warnings: list[str] = []
        summary = backup(gen.config_dir, gen.data_dir, tmp_path / "bk", warn=warnings.append)
    finally:
        control.close()
        stray.close()
        lock.release()
    assert summary.ok, summary.errors
    assert warnings == ["accounts/stray.sock: not a regular file, left out"]
    for name in ("control.sock", "postel.lock"):
        assert not (tmp_path / "bk" / "data" / name).exists()
    assert verify(tmp_path / "bk" / "data").problems == []


def test_record_cut_short_by_a_crash_is_left_out_with_a_warning(
    gen: Generated, tmp_path: Path
) -> None:
    # A crash between the commit and the file's fsync, not recovered from
    # yet: above the checkpoint, the record was never acknowledged.
    db = gen.data_dir / "accounts" / "joerg" / "index.db"
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE meta SET value = 0 WHERE key = 'files_checked_through'")
    conn.close()
    os.truncate(message_path(gen.data_dir / "accounts" / "joerg", 1), 10)
    dest = tmp_path / "bk"
    warnings: list[str] = []
    summary = backup(gen.config_dir, gen.data_dir, dest, warn=warnings.append)
    assert summary.ok, summary.errors
    assert len(warnings) == 1 and "never acknowledged" in warnings[0]
    assert warnings[0].startswith("accounts/joerg/index.db: message 1: ")
    assert not message_path(dest / "data" / "accounts" / "joerg", 1).exists()
    with sqlite3.connect(dest / "data" / "accounts" / "joerg" / "index.db") as conn:
        assert conn.execute("SELECT count(*) FROM message").fetchone()[0] == 0
    conn.close()
    assert verify(dest / "data").problems == []
