"""The worker processes of `postel serve` (the SMTP workers and the delivery
workers): how one starts (``boot``, in the worker) and how its supervisor in
the main process starts it again after an exit (``restart``: after a delay
that doubles up to BACKOFF_MAX, unless the instance is stopping)."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from postel.config import Config

BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0
HEALTHY_AFTER = 60.0  # a worker that ran this long restarts without delay growth
# A worker that stopped cleanly (exit 0) was signalled: by systemd's stop, which
# signals every process of the service at once, the main process included. Wait
# this long (seconds) for the main process's own stop before calling it a failure.
STOP_NOTICE = 3.0


PR_SET_PDEATHSIG = 1


def set_parent_death_signal(sig: int = signal.SIGTERM) -> bool:
    """Ask the kernel (Linux prctl PR_SET_PDEATHSIG) to send *sig* when the
    parent (thread) dies; False when not available (not Linux). The caller
    checks getppid() afterwards for a parent that died before the call."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return int(libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


class Halt:
    """The stop events a supervisor watches: its own ``stopping`` and the
    instance's ``shutdown`` (set by the main process's stop, even before the
    supervisor's own stop is reached)."""

    def __init__(self, shutdown: asyncio.Event | None = None) -> None:
        self.stopping = asyncio.Event()
        self.shutdown = shutdown or asyncio.Event()

    def is_set(self) -> bool:
        return self.stopping.is_set() or self.shutdown.is_set()

    async def wait(self) -> None:
        waits = [asyncio.ensure_future(e.wait()) for e in (self.stopping, self.shutdown)]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in waits:
                t.cancel()

    async def wait_for(self, seconds: float) -> bool:
        """Wait up to *seconds* for a stop; True if one came."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wait(), seconds)
        return self.is_set()

    async def stop_requested(self, code: int) -> bool:
        """Did the worker exit because the instance stops? A clean exit (0) after a
        signal to every process of the service waits up to STOP_NOTICE for it."""
        if self.is_set():
            return True
        if code == 0:
            return await self.wait_for(STOP_NOTICE)
        return False


async def restart(
    log: logging.Logger,
    what: str,
    index: int,
    *,
    pid: int,
    code: int,
    ran_for: float,
    delay: float,
    halt: Halt,
    spawn: Callable[[], Awaitable[int | None]],
) -> float | None:
    """Start worker *index* (a *what*, e.g. "smtp worker") again after it exited
    with *code*: after *delay* (BACKOFF_FIRST when it ran HEALTHY_AFTER or
    longer), doubling after each failed start. *spawn* starts it and returns its
    pid. Returns the delay for its next restart, or None when the instance
    stopped first."""
    if ran_for >= HEALTHY_AFTER:
        delay = BACKOFF_FIRST
    log.error(
        f"{what} exited, restarting",
        extra={"worker": index, "pid": pid, "code": code, "delay": delay},
    )
    while not halt.is_set():
        if await halt.wait_for(delay):
            return None
        delay = min(delay * 2, BACKOFF_MAX)
        try:
            new_pid = await spawn()
        except Exception as exc:
            log.error(
                f"{what} restart failed", extra={"worker": index, "err": str(exc), "delay": delay}
            )
            continue
        log.info(f"{what} restarted", extra={"worker": index, "pid": new_pid})
        return delay
    return None


def boot(
    parent: int, cid_slot: int, config: str, log_time: bool, refuse: Callable[[str], None]
) -> Config | int:
    """The start of a worker process: it dies with its *parent* (the main
    process), its log lines carry cids of *cid_slot*, it loads the config dir
    *config* and logs and counts metrics as the main process does. Returns the
    config, or the exit code when it cannot run (after ``refuse(reason)``,
    which tells the main process why)."""
    from postel import log as plog
    from postel.config import load_config

    set_parent_death_signal(signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before prctl
        return 1
    plog.set_cid_slot(cid_slot)
    try:
        cfg = load_config(Path(config))
    except Exception as exc:
        refuse(f"config {exc}".replace("\n", "; "))
        return 2
    plog.configure(cfg.static.log.level, cfg.static.log.packages, with_time=log_time)
    if cfg.static.metrics.enabled:
        from postel.metrics import runtime as metrics

        # Into the directory the main process wiped at its start.
        metrics.enable(metrics.directory(cfg.datadir.root), wipe=False)
    return cfg


async def start(
    module: str, spec: str, *, pass_fds: tuple[int, ...] = (), limit: int = 2**16
) -> asyncio.subprocess.Process:
    """Run ``python -m module spec`` with this postel importable, its stdin and
    stdout pipes to the supervisor (*limit*: the longest line or frame it reads),
    *pass_fds* inherited. A process group of its own: Ctrl-C and ``kill -TERM
    -PGID`` reach the main process only, which then stops the workers in order."""
    import postel

    env = dict(os.environ)
    src = str(Path(postel.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, spec,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env,
        process_group=0, pass_fds=pass_fds, limit=limit,
    )  # fmt: skip


async def start_all(spawns: Iterable[Awaitable[None]]) -> None:
    """Start every worker at once; once all have finished trying, the first
    failure is raised (the caller then stops those that did start)."""
    results = await asyncio.gather(*spawns, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
