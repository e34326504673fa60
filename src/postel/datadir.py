"""The data directory layout (docs/architecture.md, Data directory)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import postel

VERSION_FILE = "postel.version"
# The last UTC day whose findings digest was mailed (postel.reportfindings).
FINDINGS_MARKER = "findings-digest.day"


@dataclass(frozen=True)
class DataDir:
    root: Path

    @property
    def version_file(self) -> Path:
        return self.root / VERSION_FILE

    @property
    def findings_marker(self) -> Path:
        return self.root / FINDINGS_MARKER

    @property
    def auth_db(self) -> Path:
        return self.root / "auth.db"

    @property
    def mtasts_db(self) -> Path:
        return self.root / "mtasts.db"

    @property
    def tlsrpt_db(self) -> Path:
        return self.root / "tlsrpt.db"

    @property
    def tlsrptresult_db(self) -> Path:
        return self.root / "tlsrptresult.db"

    @property
    def dmarcrpt_db(self) -> Path:
        return self.root / "dmarcrpt.db"

    @property
    def dmarceval_db(self) -> Path:
        """DMARC evaluations of incoming mail, for outgoing aggregate reports."""
        return self.root / "dmarceval.db"

    @property
    def queue_dir(self) -> Path:
        return self.root / "queue"

    @property
    def queue_db(self) -> Path:
        return self.root / "queue" / "index.db"

    @property
    def accounts_dir(self) -> Path:
        return self.root / "accounts"

    def account_dir(self, name: str) -> Path:
        return self.accounts_dir / name

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    def ensure(self) -> None:
        """Create the directory skeleton and record the program version."""
        for d in (self.root, self.queue_dir, self.accounts_dir, self.tmp):
            d.mkdir(parents=True, exist_ok=True, mode=0o700)
        current = self.version_file.read_text().strip() if self.version_file.exists() else ""
        if current != postel.__version__:
            from postel.fsutil import write_atomic

            write_atomic(self.version_file, (postel.__version__ + "\n").encode(), tmpdir=self.tmp)


def message_path(base: Path, msgid: int) -> Path:
    """Message files are spread over buckets of 1000 ids: msg/<id // 1000>/<id>."""
    return base / "msg" / str(msgid // 1000) / str(msgid)
