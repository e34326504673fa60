"""`postel version`: the version and the commit postel was built
from. Here from the checkout (git); the installed wheel's own file is tested by
tests/integration/test_install_wheel.py."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

import postel
import postel.buildinfo
from postel.cli.main import cli

ROOT = Path(postel.__file__).resolve().parents[2]


def git(*args: str) -> str:
    done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_version_from_a_checkout_names_its_commit() -> None:
    head = git("rev-parse", "HEAD")
    dirty = "-dirty" if git("status", "--porcelain", "--untracked-files=no") else ""
    done = CliRunner().invoke(cli, ["version"])
    assert done.exit_code == 0, done.output
    assert done.output == f"postel {postel.__version__} (commit {head}{dirty})\n"


def test_the_commit_written_at_build_time_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "_commit.txt").write_text("0123abcd\n")
    monkeypatch.setattr(postel.buildinfo, "package_dir", lambda: tmp_path)
    assert postel.buildinfo.commit() == "0123abcd"


def test_unknown_without_a_build_file_or_a_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "site-packages" / "postel"
    package.mkdir(parents=True)
    monkeypatch.setattr(postel.buildinfo, "package_dir", lambda: package)
    assert postel.buildinfo.commit() == "unknown"


def test_the_package_version_is_the_one_in_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["version"] == postel.__version__ == postel.buildinfo.version()
