"""Child processes that die with the test process (PR_SET_PDEATHSIG) and are reaped."""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
from pathlib import Path

_PR_SET_PDEATHSIG = 1
# Daemons live in sbin, which is not on every user's PATH.
_SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin")


def find(program: str) -> str | None:
    """Absolute path of ``program`` on PATH or in the sbin directories."""
    path = os.pathsep.join([os.environ.get("PATH", ""), *_SBIN])
    return shutil.which(program, path=path)


def program(name: str) -> str:
    found = find(name)
    if found is None:
        raise RuntimeError(f"{name} not found (apt-get install -y $(cat .ci/apt-packages.txt))")
    return found


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class Process:
    """A daemon running in the foreground, output to ``log``."""

    def __init__(self, name: str, argv: list[str], log: Path, cwd: Path) -> None:
        self.name = name
        self.argv = argv
        self.log = log
        self._out = open(log, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [program(argv[0]), *argv[1:]],
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            preexec_fn=_die_with_parent,
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 5.0) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        with contextlib.suppress(OSError):
            self._out.close()


def run(argv: list[str], timeout: float = 20.0) -> str:
    """Run a control command; raise with its output when it fails."""
    try:
        done = subprocess.run(
            [program(argv[0]), *argv[1:]],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as e:
        raise RuntimeError(f"{' '.join(argv)}: no result after {timeout}s") from e
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} exited {done.returncode}: "
            f"{done.stdout.strip()} {done.stderr.strip()}"
        )
    return done.stdout
