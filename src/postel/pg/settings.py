"""Connection settings of the PostgreSQL store, checked without connecting.

The DSN (a libpq "key=value" string or a postgresql:// URI) must not carry the
password: that lives in a file of its own (``password_file``) so the DSN can be
shown in logs and config dumps. Only :func:`describe` output is ever logged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from postel.pg.errors import PgSettingsError

DEFAULT_PORT = "5432"


def parse_dsn(dsn: str, *, where: str = "[storage] dsn") -> dict[str, str]:
    """The DSN's parameters; refuses an unparseable DSN or one with a password.
    Messages start with *where* (nothing when it is empty)."""
    prefix = f"{where}: " if where else ""
    try:
        from psycopg.conninfo import conninfo_to_dict
    except ImportError as exc:  # the optional extra is missing
        raise PgSettingsError(
            f"{prefix}the PostgreSQL store needs psycopg (pip install 'postel[postgresql]')"
        ) from exc
    try:
        params = conninfo_to_dict(dsn)
    except Exception as exc:  # psycopg.ProgrammingError, with libpq's reason
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PgSettingsError(f"{prefix}not a PostgreSQL DSN: {reason}") from None
    if "password" in params:
        raise PgSettingsError(
            f"{prefix}has a password inline; put it in [storage] password_file instead"
        )
    return {k: str(v) for k, v in params.items() if v is not None}


def describe(params: dict[str, str]) -> str:
    """user@host:port/dbname, for logs and messages (never a secret)."""
    host = params.get("host") or params.get("hostaddr") or "localhost"
    port = params.get("port") or DEFAULT_PORT
    user = params.get("user", "")
    db = params.get("dbname", user)
    return f"{user + '@' if user else ''}{host}:{port}/{db}"


@dataclass(frozen=True)
class PgSettings:
    """What a node needs to reach the database: the DSN (no password) and the
    password, read from its file."""

    dsn: str
    password: str = field(default="", repr=False)  # never in a repr or a log line
    pool_min: int = 1
    pool_max: int = 10
    connect_timeout: float = 10.0

    @property
    def where(self) -> str:
        return describe(parse_dsn(self.dsn))

    def conninfo(self) -> str:
        """The DSN with the password added (for psycopg only; never logged)."""
        from psycopg.conninfo import make_conninfo

        parse_dsn(self.dsn)
        if self.password:
            return make_conninfo(self.dsn, password=self.password)
        return self.dsn


def read_password(path: Path | None, *, where: str = "[storage] password_file") -> str:
    """The first line of *path* ("" when no file is configured)."""
    if path is None:
        return ""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise PgSettingsError(f"{where} {path}: cannot read: {reason}") from None
    lines = text.splitlines()
    if not lines or not lines[0]:
        raise PgSettingsError(f"{where} {path}: empty (the first line is the password)")
    return lines[0]
