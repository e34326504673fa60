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


def hand_over_config(config_dir: Path, user: RunAs, static_file: str) -> None:
    """The configuration directory for a root start (postel.privdrop.trust): its
    files to *user*, but *static_file* (postel.toml) stays root's and read-only
    to others; the directory itself root:<user> with the sticky bit (1770)."""
    from postel.privdrop.trust import CONFIG_DIR_MODE

    hand_over(config_dir, user, keep=frozenset({static_file}))
    os.chown(config_dir, 0, user.gid, follow_symlinks=False)
    os.chmod(config_dir, CONFIG_DIR_MODE)
    static = config_dir / static_file
    if static.exists():
        os.chown(static, 0, 0, follow_symlinks=False)
        os.chmod(static, 0o644)
