"""Build step of the package (pyproject.toml holds everything else).

The wheel carries the commit it was built from in ``postel/_commit.txt``,
which ``postel version`` prints: from ``git`` when built from a checkout,
from the same file when built from an sdist (which carries it), else
"unknown".
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

HERE = Path(__file__).resolve().parent
COMMIT_FILE = "_commit.txt"
UNKNOWN = "unknown"


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(HERE), *args], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def source_commit() -> str:
    """The commit of this source tree; "-dirty" when tracked files differ from it."""
    carried = HERE / "src" / "postel" / COMMIT_FILE  # only in an sdist
    if carried.is_file():
        return carried.read_text(encoding="ascii").strip() or UNKNOWN
    if not (HERE / ".git").exists():
        return UNKNOWN
    head = _git("rev-parse", "HEAD")
    if not head:
        return UNKNOWN
    changes = _git("status", "--porcelain", "--untracked-files=no")
    return f"{head}-dirty" if changes else head


class BuildPy(build_py):
    """build_py, then write postel/_commit.txt next to the built modules."""

    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "postel" / COMMIT_FILE
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source_commit() + "\n", encoding="ascii")

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        return [
            *super().get_outputs(include_bytecode),
            str(Path(self.build_lib) / "postel" / COMMIT_FILE),
        ]


class SDist(sdist):
    """An sdist has no .git: it carries the commit for the wheel built from it."""

    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        target = Path(base_dir) / "src" / "postel" / COMMIT_FILE
        target.write_text(source_commit() + "\n", encoding="ascii")


setup(cmdclass={"build_py": BuildPy, "sdist": SDist})
