"""File writes: durable ones (temp file, fsync, rename, fsync of the directory),
and private local copies of content kept elsewhere."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Make the entries of the directory *path* durable."""
    _fsync_path(path, os.O_RDONLY | os.O_DIRECTORY)


def fsync_file(path: str | Path) -> None:
    """Make the data and metadata of the existing file *path* durable."""
    _fsync_path(path, os.O_RDONLY)


def _fsync_path(path: str | Path, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, *, tmpdir: Path | None = None, mode: int = 0o600) -> None:
    """Write *data* to *path* so that it is either fully there or absent.

    The data goes to a temporary file (in *tmpdir*, which must be on the same
    file system, else next to *path*), is fsynced, renamed into place, and the
    target directory is fsynced, so the file survives a crash once this returns.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tdir = tmpdir if tmpdir is not None else path.parent
    tdir.mkdir(parents=True, exist_ok=True)
    tmp = tdir / f".tmp-{os.getpid()}-{os.urandom(6).hex()}-{path.name}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def write_new(path: Path, data: bytes, *, tmpdir: Path | None = None, mode: int = 0o600) -> None:
    """Like :func:`write_atomic` but refuses to replace an existing file."""
    if Path(path).exists():
        raise FileExistsError(f"{path}: already exists")
    write_atomic(path, data, tmpdir=tmpdir, mode=mode)


def write_private_copy(path: Path, data: bytes) -> None:
    """Write a local copy of content kept elsewhere (a cache or spool file):
    atomically, so readers see all of it or no file, readable by this user
    only (directories 0700, file 0600), and not fsynced: it can be written
    again from where the content is kept."""
    path.parent.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.parent.mkdir(exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fp:
            fp.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
