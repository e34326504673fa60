"""The PostgreSQL store's password file, read as the user postel runs as."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

from postel.config.model import StorageConfig
from postel.preflight.errors import StartupError


def _user_name() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


def check_password_file(storage: StorageConfig, config_dir: Path) -> None:
    """StartupError when [storage] password_file cannot be read by this process.

    Started as root, postel checks it after the switch of user: the server,
    its SMTP workers and the report intake's children read the file
    themselves (the password is never handed over in arguments or the
    environment), so the file must be readable by that user."""
    if storage.backend != "postgresql" or not storage.password_file:
        return
    from postel.pg.errors import PgSettingsError
    from postel.pg.settings import read_password

    path = config_dir / storage.password_file
    try:
        read_password(path)
    except PgSettingsError as exc:
        user = _user_name()
        raise StartupError(
            f"{exc}; the user postel runs as must be able to read it: "
            f"chown {user} {path} && chmod 600 {path}"
        ) from None
