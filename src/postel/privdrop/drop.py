"""Switching the process to an unprivileged user, for good."""

from __future__ import annotations

import logging
import os

from postel.privdrop.errors import PrivDropError
from postel.privdrop.user import RunAs

log = logging.getLogger("postel.privdrop")


def running_as_root() -> bool:
    return os.geteuid() == 0


def drop_privileges(user: RunAs) -> None:
    """Set supplementary groups, then gid, then uid (real, effective, saved) to
    *user*'s; check that root cannot be regained."""
    try:
        os.setgroups(list(user.groups))
        os.setresgid(user.gid, user.gid, user.gid)
        os.setresuid(user.uid, user.uid, user.uid)
    except OSError as exc:
        raise PrivDropError(f"cannot switch to user {user.name!r}: {exc.strerror or exc}") from None
    try:
        os.setuid(0)
    except PermissionError:
        pass
    else:  # pragma: no cover - the kernel refused to drop
        raise PrivDropError(f"switched to user {user.name!r} but could become root again")
    log.info("running as user", extra={"user": user.name, "uid": user.uid, "gid": user.gid})


def warn_staying_root() -> None:
    log.warning(
        "running as root: [server] user is empty; set it to an unprivileged user "
        "(postel binds its ports as root, then switches to it)"
    )
