"""data/metrics/ (prometheus_client's files, postel.metrics) is neither
checked by verifydata nor copied by backup: it is wiped at each start."""

from __future__ import annotations

from pathlib import Path

from postel.backup import backup
from postel.gentestdata import Generated
from postel.metrics import record, runtime
from postel.verifydata import verify


def test_metrics_files_are_skipped(gen: Generated, tmp_path: Path) -> None:
    path = runtime.directory(gen.data_dir)
    runtime.enable(path, wipe=True)
    try:
        record.connection("smtp")
    finally:
        runtime.disable()
    assert list(path.glob("*.db"))
    assert verify(gen.data_dir).problems == []
    warnings: list[str] = []
    summary = backup(gen.config_dir, gen.data_dir, tmp_path / "bk", warn=warnings.append)
    assert summary.ok and summary.unknown == 0 and warnings == []
    assert not (tmp_path / "bk" / "data" / "metrics").exists()
