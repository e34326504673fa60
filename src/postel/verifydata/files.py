"""Message files against their records, and files no database knows."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from postel.databases import (
    DATABASES,
    OTHER_DIRS,
    OTHER_FILES,
    RUNTIME_FILES,
    SQLITE_SIDE_FILES,
)
from postel.datadir import message_path


def check_message_files(
    label: str, base: Path, root: Path, sizes: dict[int, int], checkpoint: int | None = None
) -> tuple[list[str], set[Path], list[str]]:
    """Every record's file exists with the stored size; returns the problems,
    the paths of the files that belong to records and notes.

    Above the store's recovery *checkpoint* (store/recovery.py) a file may be
    missing or short after a crash: its index row committed while the file
    was being fsynced, and the message was never acknowledged. That is a
    note (the recovery pass at the next start removes the record), not a
    problem; below it, or a file longer than recorded, is one."""
    problems: list[str] = []
    notes: list[str] = []
    known: set[Path] = set()
    for msgid, size in sorted(sizes.items()):
        path = message_path(base, msgid)
        known.add(path)
        rel = path.relative_to(root)
        unacked = checkpoint is not None and msgid > checkpoint
        try:
            st = path.lstat()
        except FileNotFoundError:
            if unacked:
                notes.append(_unacked(label, msgid, f"file {rel} is missing"))
            else:
                problems.append(f"{label}: message {msgid}: file {rel} is missing")
            continue
        if not path.is_file():
            problems.append(f"{label}: message {msgid}: {rel} is not a regular file")
        elif st.st_size < size and unacked:
            notes.append(_unacked(label, msgid, f"file {rel} has {st.st_size} of {size} bytes"))
        elif st.st_size != size:
            problems.append(
                f"{label}: message {msgid}: file {rel} has {st.st_size} bytes, "
                f"the record says {size}"
            )
    return problems, known, notes


def _unacked(label: str, msgid: int, what: str) -> str:
    return (
        f"{label}: message {msgid}: {what}: a delivery cut short by a crash, never "
        "acknowledged; postel removes its record at the next start"
    )


def walk_files(root: Path) -> Iterator[Path]:
    """Every non-directory under *root*, sorted, without following symlinks."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            yield Path(dirpath) / name


def skipped_dirs(root: Path) -> set[Path]:
    """Directories whose content is not checked (tmp/, orphans/ of accounts, ...)."""
    out = {root / d for d in OTHER_DIRS}
    for db in DATABASES:
        for path in db.locate(root):
            out.update(path.parent / d for d in db.owned_dirs)
    return out


def known_static(root: Path) -> set[Path]:
    """Database files with their SQLite side files, and the other known files."""
    out = {root / f for f in (*OTHER_FILES, *RUNTIME_FILES)}
    for db in DATABASES:
        for path in db.locate(root):
            out.add(path)
            out.update(path.with_name(path.name + s) for s in SQLITE_SIDE_FILES)
    return out


def unknown_files(root: Path, known: set[Path]) -> list[Path]:
    skip = skipped_dirs(root)
    out: list[Path] = []
    for path in walk_files(root):
        if path in known:
            continue
        if any(path.is_relative_to(d) for d in skip):
            continue
        out.append(path)
    return sorted(out)
