"""The user postel runs as: name to uid, gid and supplementary groups."""

from __future__ import annotations

import grp
import pwd
from dataclasses import dataclass

from postel.privdrop.errors import PrivDropError


@dataclass(frozen=True)
class RunAs:
    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]


def lookup_user(name: str, where: str) -> RunAs:
    """The account *name* (from the setting *where*); never root."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise PrivDropError(
            f"user {name!r} ({where}) does not exist; create it (useradd --system "
            f"--home-dir /nonexistent --shell /usr/sbin/nologin {name}) or name another"
        ) from None
    if entry.pw_uid == 0:
        raise PrivDropError(f"user {name!r} ({where}) is root; name an unprivileged user")
    groups = {entry.pw_gid} | {g.gr_gid for g in grp.getgrall() if name in g.gr_mem}
    return RunAs(name, entry.pw_uid, entry.pw_gid, tuple(sorted(groups)))
