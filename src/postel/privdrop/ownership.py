"""Handing directories to the user postel runs as (`postel quickstart` as root)."""

from __future__ import annotations

import os
from pathlib import Path

from postel.privdrop.user import RunAs


def hand_over(root: Path, user: RunAs, *, keep: frozenset[str] = frozenset()) -> None:
    """chown -R *root* to *user* (its primary group), except the entries of
    *root* named in *keep*; symbolic links themselves, never what they point to."""
    os.chown(root, user.uid, user.gid, follow_symlinks=False)
    for dirpath, dirnames, filenames in os.walk(root):
        top = Path(dirpath) == root
        for name in [*dirnames, *filenames]:
            if top and name in keep:
                continue
            os.chown(Path(dirpath) / name, user.uid, user.gid, follow_symlinks=False)
        if top:
            dirnames[:] = [d for d in dirnames if d not in keep]
