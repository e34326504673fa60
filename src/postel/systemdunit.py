"""The systemd unit shipped in the package (postel/data/postel.service).

The shipped file is written for the layout of docs/install.md; :func:`render`
puts another installation's paths into it: the ``postel`` executable, the
configuration directory, and the directories the service may write (the
data directory and the configuration directory, where the admin pages
replace domains.toml) under ``ProtectSystem=strict``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import postel
from postel.errors import InputError

UNIT_NAME = "postel.service"
UNIT_PATH = Path(postel.__file__).resolve().parent / "data" / UNIT_NAME

# Unquoted paths only: systemd splits on whitespace, expands "%" specifiers
# and interprets quotes and backslashes (systemd.syntax(7), systemd.unit(5)).
_PLAIN_PATH = re.compile(r"/[^\s%\"'\\;]*")


class UnitPathError(InputError):
    """A path that cannot be written into the unit as it is."""


def shipped_unit() -> str:
    return UNIT_PATH.read_text(encoding="utf-8")


def _plain(path: Path, what: str) -> str:
    text = str(path)
    if not _PLAIN_PATH.fullmatch(text):
        raise UnitPathError(
            f"{text} ({what}): not usable in a systemd unit as it is (it must be absolute, "
            "without spaces, quotes, backslashes, ';' or '%'); use another path or a symlink"
        )
    return text


def outermost(paths: Sequence[Path]) -> list[Path]:
    """*paths* without duplicates and without those inside another of them."""
    out: list[Path] = []
    for path in sorted(set(paths), key=lambda p: (len(p.parts), str(p))):
        if not any(path.is_relative_to(kept) for kept in out):
            out.append(path)
    return sorted(out)


def render(text: str, *, executable: Path, config_dir: Path, writable: Sequence[Path]) -> str:
    """*text* (the shipped unit) with ExecStart and ReadWritePaths for these paths."""
    exec_start = (
        f"ExecStart={_plain(executable, 'the postel executable')} serve "
        f"--config {_plain(config_dir, 'the configuration directory')}"
    )
    rw = " ".join(_plain(p, "a directory postel writes") for p in outermost(writable))
    out = []
    for line in text.splitlines(keepends=True):
        if line.startswith("ExecStart="):
            line = exec_start + "\n"
        elif line.startswith("ReadWritePaths="):
            line = f"ReadWritePaths={rw}\n"
        out.append(line)
    return "".join(out)


def settings(text: str) -> dict[str, list[str]]:
    """The unit's ``Key=value`` lines per key, ``[Section]`` and comments left out."""
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, sep, value = line.partition("=")
        if sep:
            out.setdefault(key.strip(), []).append(value.strip())
    return out
