"""Where a child process finds the PostgreSQL store (the report intake's,
postel.reportintake.child): the [storage] DSN and the password file's path,
passed as JSON, never the password. Imports no psycopg.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from postel.config import Config


@dataclass(frozen=True)
class PgTarget:
    """The PostgreSQL store of [storage]: its DSN (no password), the password
    file ("" for none) and the connect timeout in seconds."""

    dsn: str
    password_file: str = ""
    connect_timeout: float = 10.0

    def to_json(self) -> dict[str, object]:
        return {
            "dsn": self.dsn,
            "password_file": self.password_file,
            "connect_timeout": self.connect_timeout,
        }

    @classmethod
    def from_json(cls, obj: object) -> PgTarget:
        if not isinstance(obj, dict):
            raise ValueError("PostgreSQL target: not an object")
        return cls(
            dsn=str(obj["dsn"]),
            password_file=str(obj.get("password_file", "")),
            connect_timeout=float(obj.get("connect_timeout", 10.0)),
        )

    def conninfo(self) -> tuple[str, str]:
        """The conninfo with the password read from its file, and where it goes
        (user@host:port/db, for messages). PgSettingsError when unusable."""
        from postel.pg.settings import PgSettings, read_password

        path = Path(self.password_file) if self.password_file else None
        settings = PgSettings(dsn=self.dsn, password=read_password(path))
        return settings.conninfo(), settings.where


def pg_target(cfg: Config) -> PgTarget | None:
    """The intake's PostgreSQL target of *cfg*; None on the SQLite store."""
    storage = cfg.static.storage
    if storage.backend != "postgresql":
        return None
    password = str((cfg.dir / storage.password_file).resolve()) if storage.password_file else ""
    return PgTarget(storage.dsn, password, storage.connect_timeout)
