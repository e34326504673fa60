"""The worker's and the CLI's roots: what they open, and that they close it."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

from wiring_env import counting_connections, write_config

from postel.config import load_config
from postel.datadir import DataDir
from postel.wiring import CLIRoot, WorkerRoot


def test_the_worker_root_opens_the_store_and_auth_db_once_and_closes_them(
    tmp_path: Path,
) -> None:
    cfg = load_config(write_config(tmp_path / "config"))
    cfg.datadir.ensure()
    with counting_connections() as opened, ExitStack() as stack:
        root = WorkerRoot.open(cfg, stack)
        root.accounts.account("alice").deliver_bytes("Inbox", b"Subject: x\r\n\r\nx\r\n")
        root.limiter.succeeded_sync(root.limiter.reserve_sync("127.0.0.1", "alice"))
        assert not root.store.closed
    assert root.store.closed
    names = {Path(n).relative_to(cfg.datadir.root).as_posix(): c for n, c in opened.items()}
    # auth.db: the passwords and the login limits, one connection each.
    assert names == {"auth.db": 2, "accounts/alice/index.db": 1}


def test_the_cli_root_opens_only_what_a_command_uses(tmp_path: Path) -> None:
    datadir = DataDir(tmp_path / "data")
    with counting_connections() as opened, CLIRoot(datadir) as root:
        root.credentials.set_password("alice", "a long enough password")
        assert root.credentials.accounts() == ["alice"]
    assert [Path(n).name for n in opened] == ["auth.db"]
    assert not datadir.accounts_dir.exists()
    with CLIRoot(datadir) as root:
        root.accounts.account("alice")
        store = root.accounts
    assert store.closed
