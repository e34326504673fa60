"""scripts/test-upgrade in CI: the current version, and releases tagged in a
throw-away clone (so the tag handling is tested before real tags exist)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "test-upgrade"


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.email=test@example.org", "-c", "user.name=test", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def _upgrade(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--python", sys.executable, "--reuse-deps", *args],
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_upgrade_script_on_this_repository() -> None:
    """Every real release tag (none yet: then the current version alone)."""
    done = _upgrade()
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().endswith("and the current version")


def test_upgrade_script_steps_through_tagged_releases(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    _git(tmp_path, "clone", "--quiet", str(REPO), str(clone))
    # Only the releases made below: the real tags would change what is counted.
    for tag in _git(clone, "tag", "--list").split():
        _git(clone, "tag", "--delete", tag)
    init = clone / "src" / "postel" / "__init__.py"
    original = init.read_text()
    # Two "releases" with versions of their own, then a later HEAD.
    for version in ("0.0.1", "0.0.2"):
        init.write_text(original.replace('__version__ = "', f'__version__ = "{version}"  # "'))
        _git(clone, "commit", "--quiet", "-am", f"release {version}")
        _git(clone, "tag", f"v{version}")
    init.write_text(original)
    _git(clone, "commit", "--quiet", "-am", "after the releases")
    _git(clone, "tag", "not-a-release")

    done = _upgrade("--repo", str(clone), "--keep")
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "release v0.0.1:" in out and "release v0.0.2:" in out
    assert "stepping one data dir through v0.0.1 -> v0.0.2 -> current:" in out
    assert "upgrade test ok: 2 earlier release(s)" in out
    work = Path(out.split("work directory kept: ")[1].split()[0])
    try:
        # Each release's own code made its data.
        assert (work / "gen-v0.0.1" / "data" / "postel.version").read_text() == "0.0.1\n"
        assert (work / "gen-v0.0.2" / "data" / "postel.version").read_text() == "0.0.2\n"
    finally:
        subprocess.run(["rm", "-rf", str(work)], check=False)
    assert _git(clone, "worktree", "list").count("\n") == 1  # worktrees removed
