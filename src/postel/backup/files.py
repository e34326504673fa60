"""Placing files in the backup: hard links, copies across file systems."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

# Errors of os.link that mean "cannot link here", not "something is wrong".
LINK_UNSUPPORTED = (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP)


def link_or_copy(source: Path, dest: Path, *, allow_link: bool = True) -> bool:
    """Hard-link *source* to *dest* (message files are immutable), or copy it.

    True if linked, False if copied. FileNotFoundError when *source* is gone.
    Never replaces *dest*."""
    dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if allow_link:
        try:
            os.link(source, dest, follow_symlinks=False)
            return True
        except OSError as exc:
            if exc.errno not in LINK_UNSUPPORTED:
                raise
    copy_new(source, dest)
    return False


def copy_new(source: Path, dest: Path) -> None:
    """Copy a file (data and mode) to a path that must not exist; fsynced."""
    dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(source, "rb") as src, open(dest, "xb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
        dst.flush()
        os.fsync(dst.fileno())
    shutil.copymode(source, dest)
