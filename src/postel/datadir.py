"""The data directory layout (docs/architecture.md, Data directory)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import postel
from postel.errors import PostelError

VERSION_FILE = "postel.version"
# The last UTC day whose findings digest was mailed (postel.reportfindings).
FINDINGS_MARKER = "findings-digest.day"


class DataDirError(PostelError):
    """The data directory cannot be used: one line naming it and what to do."""


def version_key(version: str) -> tuple[int, ...]:
    """The numeric release parts of *version*: "0.10.2" > "0.9", "1.2.0.dev3" = (1, 2, 0)."""
    parts: list[int] = []
    for part in version.strip().split("."):
        digits = re.match(r"\d+", part)
        if digits is None:
            break
        parts.append(int(digits.group()))
        if digits.end() != len(part):
            break
    return tuple(parts)


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

    def written_by(self) -> str:
        """The version of postel that last wrote this directory ("" when none did)."""
        try:
            return self.version_file.read_text(encoding="utf-8", errors="replace").strip()
        except FileNotFoundError:
            return ""
        except OSError as exc:
            raise DataDirError(
                f"{self.version_file}: cannot read: {exc.strerror or exc}; "
                "make the data directory readable by the user postel runs as"
            ) from None

    def check_version(self) -> None:
        """Refuse a directory written by a newer postel: its databases may have a
        schema this version does not know, and migrations only run forward."""
        written = self.written_by()
        if written and version_key(written) > version_key(postel.__version__):
            raise DataDirError(
                f"{self.root}: written by postel {written}, this is postel "
                f"{postel.__version__}; run postel {written} or newer with this data directory"
            )

    def ensure(self) -> None:
        """Create the directory skeleton and record the program version."""
        self.check_version()
        try:
            for d in (self.root, self.queue_dir, self.accounts_dir, self.tmp):
                d.mkdir(parents=True, exist_ok=True, mode=0o700)
            if self.written_by() != postel.__version__:
                from postel.fsutil import write_atomic

                data = (postel.__version__ + "\n").encode()
                write_atomic(self.version_file, data, tmpdir=self.tmp)
        except OSError as exc:
            where = exc.filename or self.root
            raise DataDirError(
                f"{where}: {exc.strerror or exc}; the data directory {self.root} must be "
                "writable by the user postel runs as"
            ) from None


def message_path(base: Path, msgid: int) -> Path:
    """Message files are spread over buckets of 1000 ids: msg/<id // 1000>/<id>."""
    return base / "msg" / str(msgid // 1000) / str(msgid)
