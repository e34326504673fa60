"""Which postel this is: its version and the commit it was built from.

The version comes from the installed package's metadata (pyproject.toml's
version; ``postel.__version__`` when postel runs from a source tree that is
not what the metadata describes). The commit comes from ``postel/_commit.txt``,
which the build writes into the wheel (setup.py); run from a git checkout,
from ``git`` itself; else it is "unknown".
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import postel

COMMIT_FILE = "_commit.txt"
UNKNOWN = "unknown"
GIT_TIMEOUT = 5.0  # seconds; `postel version` must not hang on a broken checkout


@dataclass(frozen=True)
class BuildInfo:
    version: str
    commit: str

    def line(self) -> str:
        return f"postel {self.version} (commit {self.commit})"


def package_dir() -> Path:
    return Path(postel.__file__).resolve().parent


def version() -> str:
    """The installed distribution's version when it is the postel imported here."""
    try:
        dist = metadata.distribution("postel")
    except metadata.PackageNotFoundError:
        return postel.__version__
    installed = Path(str(dist.locate_file("postel/__init__.py"))).resolve()
    if installed != package_dir() / "__init__.py":  # a checkout, or an editable install
        return postel.__version__
    return dist.version


def built_commit() -> str | None:
    """The commit written into the package at build time, if any."""
    try:
        text = (package_dir() / COMMIT_FILE).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text or None


def checkout_root() -> Path | None:
    """The source tree postel runs from (src/postel in a git checkout), if any."""
    root = package_dir().parents[1]
    if package_dir().parent.name != "src" or not (root / "pyproject.toml").is_file():
        return None
    return root if (root / ".git").exists() else None


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(root), *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def checkout_commit(root: Path) -> str | None:
    """HEAD of the checkout at *root*; "-dirty" when tracked files differ from it."""
    head = _git(root, "rev-parse", "HEAD")
    if not head:
        return None
    changes = _git(root, "status", "--porcelain", "--untracked-files=no")
    return f"{head}-dirty" if changes else head


def commit() -> str:
    built = built_commit()
    if built is not None:
        return built
    root = checkout_root()
    return (checkout_commit(root) if root is not None else None) or UNKNOWN


def build_info() -> BuildInfo:
    return BuildInfo(version(), commit())
