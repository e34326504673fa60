"""backup: a consistent copy of a running instance (docs/data-safety.md).

DESTDIR/config is a copy of the config dir, DESTDIR/data the data dir:
databases as snapshots, message files hard-linked (copied with one warning
across file systems), files no snapshot knows copied with a warning, files
added while the backup runs skipped. DESTDIR must not exist.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import postel
from postel.backup.errors import BackupError, DestinationExists
from postel.backup.files import copy_new, link_or_copy
from postel.backup.snapshot import Snapshot, record_exists, snapshot
from postel.databases import (
    DATABASES,
    KEY_DIRS,
    OTHER_DIRS,
    RUNTIME_FILES,
    SQLITE_SIDE_FILES,
    Database,
)
from postel.datadir import VERSION_FILE, message_path
from postel.fsutil import fsync_dir, fsync_file, write_new

log = logging.getLogger("postel.backup")

Warn = Callable[[str], None]
# progress(advance, total_increase, description)
Progress = Callable[[int, int, str], None]


@dataclass
class Summary:
    source: Path
    dest: Path
    databases: int = 0
    linked: int = 0
    copied: int = 0
    unknown: int = 0
    skipped_new: int = 0
    forgotten: int = 0
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def line(self) -> str:
        files = (
            f"{self.linked + self.copied} message files "
            f"({self.linked} linked, {self.copied} copied)"
        )
        extra = f", {len(self.warnings)} warning(s)" if self.warnings else ""
        head = f"backup of {self.source} to {self.dest}"
        if self.ok:
            return f"{head}: ok: {self.databases} databases, {files}{extra}"
        failed = f"FAILED: {len(self.errors)} error(s)"
        return f"{head}: {failed}, {self.databases} databases, {files}{extra}"


class _Run:
    def __init__(self, src: Path, dst: Path, warn: Warn | None, progress: Progress | None) -> None:
        self.src = src
        self.dst = dst
        self.summary = Summary(src, dst.parent)
        self._warn = warn
        self._progress = progress
        self._cross_device_warned = False

    def warn(self, text: str) -> None:
        self.summary.warnings.append(text)
        log.warning(text)
        if self._warn is not None:
            self._warn(text)

    def error(self, text: str) -> None:
        self.summary.errors.append(text)
        log.error(text)
        if self._warn is not None:
            self._warn(f"error: {text}")

    def progress(self, advance: int, more: int, what: str) -> None:
        if self._progress is not None:
            self._progress(advance, more, what)

    def place(self, source: Path, rel: Path) -> bool:
        """Link or copy one file into the backup; False if the source is gone."""
        try:
            linked = link_or_copy(source, self.dst / rel, allow_link=not self._cross_device_warned)
        except FileNotFoundError:
            return False
        if linked:
            self.summary.linked += 1
        else:
            self.summary.copied += 1
            if not self._cross_device_warned:
                self._cross_device_warned = True
                self.warn(
                    f"cannot hard-link from {self.src} into {self.dst} (another file system?): "
                    "copying message files instead"
                )
        return True


def backup(
    config_dir: Path,
    data_dir: Path,
    dest: Path,
    *,
    warn: Warn | None = None,
    progress: Progress | None = None,
) -> Summary:
    """Back up *config_dir* and *data_dir* into the new directory *dest*."""
    config_dir, data_dir, dest = Path(config_dir), Path(data_dir).resolve(), Path(dest)
    if os.path.lexists(dest):
        raise DestinationExists(f"{dest}: already exists, not overwriting")
    if not data_dir.is_dir():
        raise BackupError(f"{data_dir}: data directory does not exist")
    if dest.resolve().is_relative_to(data_dir.resolve()) or dest.resolve().is_relative_to(
        config_dir.resolve()
    ):
        raise BackupError(f"{dest}: must not be inside the config or data directory")
    dest.mkdir(parents=True, mode=0o700)
    run = _Run(data_dir, dest / "data", warn, progress)
    _copy_config(config_dir, data_dir, dest / "config")
    run.dst.mkdir(mode=0o700)
    known: set[Path] = set()
    snapshots: list[tuple[Database, Path, Snapshot]] = []
    located = [(db, path) for db in DATABASES for path in db.locate(data_dir)]
    run.progress(0, len(located), "databases")
    for db, path in located:
        rel = path.relative_to(data_dir)
        known.add(path)
        known.update(path.with_name(path.name + s) for s in SQLITE_SIDE_FILES)
        try:
            snap = snapshot(path, run.dst / rel, db.files)
        except Exception as exc:  # report and go on with the other databases
            run.error(f"{rel}: snapshot failed: {exc}")
            continue
        run.summary.databases += 1
        snapshots.append((db, path, snap))
        run.progress(1, len(snap.sizes), str(rel))
    for db, path, snap in snapshots:
        known |= _message_files(run, db, path, snap)
    _other_files(run, known, snapshots)
    write_new(run.dst / VERSION_FILE, (postel.__version__ + "\n").encode(), mode=0o600)
    fsync_dir(run.dst)
    fsync_dir(dest)
    return run.summary


def _copy_config(config_dir: Path, data_dir: Path, target: Path) -> None:
    data_real = data_dir.resolve()

    def ignore(directory: str, names: list[str]) -> list[str]:
        return [n for n in names if (Path(directory) / n).resolve() == data_real]

    try:
        shutil.copytree(config_dir, target, symlinks=True, ignore=ignore)
    except (OSError, shutil.Error) as exc:
        raise BackupError(f"copying config {config_dir} to {target}: {exc}") from exc


def _message_files(run: _Run, db: Database, path: Path, snap: Snapshot) -> set[Path]:
    """Link the files of the snapshot's records; returns their source paths.

    Records above the store's recovery checkpoint (store/recovery.py) may be
    deliveries still being fsynced, or cut short by a crash the store has not
    recovered from yet: their files are fsynced once linked, and a record whose
    file is missing or short is left out with a warning (never acknowledged)."""
    assert db.files is not None or not snap.sizes
    base = path.parent
    placed: set[Path] = set()
    vanished: list[int] = []
    unacked: list[int] = []
    rel = path.relative_to(run.src)
    for msgid in sorted(snap.sizes):
        source = message_path(base, msgid)
        placed.add(source)
        recent = snap.checkpoint is not None and msgid > snap.checkpoint
        if recent and _short(source, snap.sizes[msgid]):
            unacked.append(msgid)
        elif run.place(source, source.relative_to(run.src)):
            if recent:
                fsync_file(run.dst / source.relative_to(run.src))
            run.progress(1, 0, str(path.parent.relative_to(run.src)))
        else:
            vanished.append(msgid)
    deleted: list[int] = []
    if vanished and db.files is not None:
        # Removed while the backup ran (record first, then file): left out.
        deleted = [i for i in vanished if not record_exists(path, db.files, i)]
        for msgid in vanished:
            if msgid in deleted:
                continue
            if snap.checkpoint is not None and msgid > snap.checkpoint:
                unacked.append(msgid)
            else:
                run.error(f"{rel}: message {msgid}: file {message_path(base, msgid)} is missing")
        run.progress(len(vanished), 0, str(rel))
    for msgid in unacked:
        run.warn(
            f"{rel}: message {msgid}: file {message_path(base, msgid)} missing or short: "
            "a delivery cut short by a crash, never acknowledged; left out"
        )
    if deleted or unacked:
        forget = db.load_forget()
        assert forget is not None
        conn = sqlite3.connect(str(snap.path), isolation_level=None)
        conn.row_factory = sqlite3.Row
        try:
            forget(conn, sorted(deleted + unacked))
        finally:
            conn.close()
        run.summary.forgotten += len(deleted) + len(unacked)
    return placed


def _short(source: Path, size: int) -> bool:
    """A missing file, or one with fewer bytes than its record says."""
    try:
        return source.stat().st_size < size
    except FileNotFoundError:
        return True


def _other_files(
    run: _Run, known: set[Path], snapshots: list[tuple[Database, Path, Snapshot]]
) -> None:
    """Files no snapshot knows: new message files are skipped, others copied
    with a warning; files in a database's own directories (orphans/) copied."""
    skip = {run.src / d for d in OTHER_DIRS}
    keys = [run.src / d for d in KEY_DIRS]  # host and ACME keys: copied, no warning
    owned: set[Path] = set()
    msg_dirs: dict[Path, tuple[Database, Path, Snapshot]] = {}
    for db, path, snap in snapshots:
        owned.update(path.parent / d for d in db.owned_dirs)
        if db.files is not None:
            msg_dirs[path.parent / "msg"] = (db, path, snap)
    for dirpath, dirnames, filenames in os.walk(run.src):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if here / d not in skip)
        for name in sorted(filenames):
            source = here / name
            if source in known or (source.name == VERSION_FILE and here == run.src):
                continue
            if here == run.src and name in RUNTIME_FILES:
                continue  # the running server's lock and control socket
            if not source.is_file() and source.exists():
                # A socket or FIFO (something else's): there is nothing to copy.
                run.warn(f"{source.relative_to(run.src)}: not a regular file, left out")
                continue
            rel = source.relative_to(run.src)
            if any(source.is_relative_to(d) for d in keys):
                try:
                    copy_new(source, run.dst / rel)
                except FileNotFoundError:
                    pass
                continue
            if any(source.is_relative_to(d) for d in owned):
                run.place(source, rel)
                continue
            owner = msg_dirs.get(here.parent)
            if owner is not None and name.isdigit() and here.name == str(int(name) // 1000):
                db, path, snap = owner
                assert db.files is not None
                msgid = int(name)
                if msgid > snap.max_id or record_exists(path, db.files, msgid):
                    run.summary.skipped_new += 1  # added while the backup ran
                    continue
                if not source.exists():
                    continue  # removed meanwhile
            try:
                copy_new(source, run.dst / rel)
            except FileNotFoundError:
                continue
            except OSError as exc:
                run.error(f"{rel}: copying: {exc}")
                continue
            run.summary.unknown += 1
            run.warn(f"{rel}: unknown file (no database record refers to it), copied")
