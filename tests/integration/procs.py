"""Which of a server's child processes are SMTP or delivery workers (by command line)."""

from __future__ import annotations

from pathlib import Path

MODULES = {"smtp": b"postel.smtpworkers.worker", "delivery": b"postel.deliveryworkers.worker"}


def of_kind(pids: list[int], kind: str) -> list[int]:
    """The pids among *pids* that run the worker module of *kind* ("smtp", "delivery")."""
    out = []
    for pid in pids:
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if MODULES[kind] in argv:
            out.append(pid)
    return out
