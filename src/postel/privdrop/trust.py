"""The configuration a root start trusts must be out of the unprivileged user's reach.

postel.toml says which user `postel serve` switches to. If that user could
replace it (write it, or rename it away in a directory it may write), the
next start as root would run with the user's choice, for example without a
switch of user at all. So, started as root, serve refuses a postel.toml that
is not root's or is writable by others, and any directory on its path that is
not root's or is writable by others without the sticky bit (as sshd's
StrictModes does). The configuration directory that quickstart makes is
root:<user> with mode 1770: the user may create and replace its own files
there (domains.toml, which the admin pages edit), never postel.toml.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from postel.privdrop.errors import PrivDropError

CONFIG_DIR_MODE = 0o1770  # root:<user>, sticky: the user cannot replace root's files


def _unsafe(st: os.stat_result, *, directory: bool) -> str | None:
    if st.st_uid != 0:
        return "is not owned by root"
    writable = st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    if writable and not (directory and st.st_mode & stat.S_ISVTX):
        return "is writable by others than root" + (" without the sticky bit" if directory else "")
    return None


def check_config_trusted(config_file: Path) -> None:
    """PrivDropError (one line: what, where, what to do) when the user postel
    switches to could replace *config_file* before the next start as root."""
    path = config_file.resolve()
    try:
        problem = _unsafe(path.stat(), directory=False)
    except OSError as exc:
        raise PrivDropError(f"{path}: {exc.strerror or exc}") from None
    if problem is not None:
        raise PrivDropError(
            f"{path} {problem}, so the user postel switches to could change it; "
            f"run: chown root: {path} && chmod 644 {path}"
        )
    for directory in path.parents:
        try:
            problem = _unsafe(directory.stat(), directory=True)
        except OSError as exc:
            raise PrivDropError(f"{directory}: {exc.strerror or exc}") from None
        if problem is not None:
            raise PrivDropError(
                f"{directory} {problem}, so the user postel switches to could replace "
                f"{path.name}; run: chown root {directory} && chmod {CONFIG_DIR_MODE:o} "
                f"{directory}"
            )
