"""The running server's change socket (postel.store.notify) is no data: a backup
and verifydata of a data directory whose server is running pass it by."""

from __future__ import annotations

from pathlib import Path

from postel.backup import backup
from postel.datadir import DataDir
from postel.gentestdata import Generated
from postel.store.notify import ChangeFeed
from postel.verifydata import verify


async def test_backup_while_the_change_socket_listens(gen: Generated, tmp_path: Path) -> None:
    feed = ChangeFeed(DataDir(gen.data_dir).tmp)
    await feed.start()
    try:
        assert feed.path.is_socket()
        warnings: list[str] = []
        summary = backup(gen.config_dir, gen.data_dir, tmp_path / "bk", warn=warnings.append)
        assert summary.ok and warnings == []
        assert verify(gen.data_dir).problems == []
    finally:
        await feed.stop()
