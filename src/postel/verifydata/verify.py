"""verifydata: check a whole data directory (docs/data-safety.md).

Read-only unless asked to fix (move unknown files aside) or to migrate
(open every database read-write so its migrations run, as an upgrade does).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import postel
from postel.databases import DATABASES
from postel.datadir import VERSION_FILE, DataDir
from postel.verifydata.dbcheck import check_database
from postel.verifydata.errors import NotADataDir
from postel.verifydata.files import check_message_files, known_static, unknown_files

log = logging.getLogger("postel.verifydata")

MOVED_ASIDE = "moved-aside"


@dataclass
class Verification:
    root: Path
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)
    databases: int = 0
    message_files: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def looks_like_datadir(root: Path) -> bool:
    if not root.is_dir():
        return False
    if (root / VERSION_FILE).exists():
        return True
    return any(db.locate(root) for db in DATABASES)


def verify(root: Path, *, fix: bool = False, do_migrate: bool = False) -> Verification:
    """Check everything under data dir *root*; see the module docstring."""
    root = Path(root)
    if not looks_like_datadir(root):
        raise NotADataDir(f"{root}: not a postel data directory (no {VERSION_FILE}, no databases)")
    if do_migrate:
        DataDir(root).ensure()
    result = Verification(root)
    _check_version(root, result)
    known = known_static(root)
    for db in DATABASES:
        for path in db.locate(root):
            r = check_database(db, path, root, do_migrate=do_migrate)
            result.databases += 1
            result.problems += r.problems
            result.notes += r.notes
            if r.sizes is not None:
                problems, files, notes = check_message_files(
                    r.label, path.parent, root, r.sizes, r.checkpoint
                )
                result.problems += problems
                result.notes += notes
                result.message_files += len(files)
                known |= files
    from postel.acme.filecheck import check_key_files

    key_problems, key_files = check_key_files(root)
    result.problems += key_problems
    known |= key_files
    unknown = unknown_files(root, known)
    if unknown and fix:
        dest_base = root / MOVED_ASIDE / dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
        for path in unknown:
            rel = path.relative_to(root)
            dest = dest_base / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.rename(path, dest)
            result.fixed.append(f"unknown file {rel} moved to {dest.relative_to(root)}")
            log.warning("unknown file moved aside", extra={"path": str(path), "dest": str(dest)})
    else:
        result.problems += [
            f"{p.relative_to(root)}: unknown file (no database record refers to it)"
            for p in unknown
        ]
    return result


def _check_version(root: Path, result: Verification) -> None:
    path = root / VERSION_FILE
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        result.problems.append(f"{VERSION_FILE}: missing")
        return
    except (OSError, UnicodeDecodeError) as exc:
        result.problems.append(f"{VERSION_FILE}: unreadable: {exc}")
        return
    if not text or not all(p.isdigit() for p in text.split(".")[:3]):
        result.problems.append(f"{VERSION_FILE}: not a version: {text[:40]!r}")
    elif _vtuple(text) > _vtuple(postel.__version__):
        result.problems.append(
            f"{VERSION_FILE}: written by postel {text}, newer than this program "
            f"({postel.__version__})"
        )
    else:
        result.notes.append(f"{VERSION_FILE}: {text}")


def _vtuple(text: str) -> tuple[int, ...]:
    out: list[int] = []
    for part in text.split(".")[:3]:
        digits = "".join(c for c in part if c.isdigit())
        out.append(int(digits) if digits else 0)
    return tuple(out)
