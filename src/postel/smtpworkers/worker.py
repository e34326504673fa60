"""One SMTP worker process: ``python -m postel.smtpworkers.worker SPEC``.

SPEC is JSON from the supervisor: config dir, worker number, the ports the
main process reserved, the main process's pid and log options. The worker
runs SMTPService on those ports with SO_REUSEPORT, its own store, resolver
and queue submitter; it writes ``ready`` or ``error ...`` on stdout once, then
``wake`` after each hand-off to the queue. It stops on SIGTERM/SIGINT, when
its stdin (a pipe from the main process) ends, or when the main process dies
(PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import threading
from contextlib import AsyncExitStack, ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from postel.smtpworkers import messages
from postel.smtpworkers.spec import Spec
from postel.workerprocess import boot

if TYPE_CHECKING:
    from postel.config import Config
    from postel.queue import QueueEntries, QueueSubmitter
    from postel.wiring import WorkerRoot

log = logging.getLogger("postel.smtpworkers")

DOMAINS_POLL = 1.0  # seconds between looks at domains.toml (the admin may change it)


def report(line: bytes) -> None:
    """One line to the main process (stdout is a pipe only it reads)."""
    with contextlib.suppress(OSError):
        os.write(1, line + b"\n")


class WakingSubmitter:
    """The queue submitter, followed by a wake-up of the main process's queue loop."""

    def __init__(self, inner: QueueSubmitter) -> None:
        self.inner = inner
        self.queue = inner.queue

    async def __call__(
        self, account: str, mail_from: str, rcpts: list[str], path: Path, requiretls: bool
    ) -> None:
        try:
            await self.inner(account, mail_from, rcpts, path, requiretls)
        finally:
            report(messages.WAKE)


async def _watch_domains(cfg: Config, stop: asyncio.Event) -> None:
    """Reload domains.toml when it changes (the admin edits it in the main process)."""
    from postel.store.accountsfile import validate_domains

    path = cfg.domains_file

    def stamp() -> tuple[int, int, int] | None:
        try:
            st = path.stat()
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    seen = stamp()
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), DOMAINS_POLL)
        now = stamp()
        if now is None or now == seen:
            continue
        seen = now
        try:
            cfg.domains = validate_domains(path.read_text(encoding="utf-8"), str(path))
            log.info("domains.toml reloaded", extra={"file": str(path)})
        except Exception as exc:
            log.error("domains.toml not reloaded", extra={"file": str(path), "err": str(exc)})


async def serve(spec: Spec, cfg: Config) -> int:
    from postel.queue import SQLiteQueueEntries
    from postel.wiring import WorkerRoot, on_postgresql, open_queue_entries

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    def watch_stdin() -> None:  # EOF: the main process is gone or wants us gone
        with contextlib.suppress(Exception):
            while os.read(0, 4096):  # the raw fd: no buffer lock held at exit
                pass
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=watch_stdin, name="parent-watch", daemon=True).start()
    if on_postgresql(cfg):
        async with AsyncExitStack() as astack:
            root = await WorkerRoot.open_pg(cfg, astack)
            entries = open_queue_entries(cfg)  # adds only: the main process delivers
            astack.callback(entries.close)
            return await _serve(spec, cfg, root, entries, stop)
    with ExitStack() as stack:
        # Every database of this process, opened once (postel.wiring).
        root = WorkerRoot.open(cfg, stack)
        entries = SQLiteQueueEntries(cfg.datadir)  # adds only: the main process delivers
        stack.callback(entries.close)
        return await _serve(spec, cfg, root, entries, stop)


async def _serve(
    spec: Spec, cfg: Config, root: WorkerRoot, entries: QueueEntries, stop: asyncio.Event
) -> int:
    from postel.queue import QueueSubmitter
    from postel.smtpserver import SMTPService
    from postel.smtpserver.errors import BindError, ListenerConfigError

    ports = {(name, kind, ip): port for name, kind, ip, port in spec.ports}
    sockets = {(name, kind, ip): socket.socket(fileno=fd) for name, kind, ip, fd in spec.fds}
    smtp = SMTPService(
        cfg,
        root.accounts,
        root.resolver,
        WakingSubmitter(QueueSubmitter(cfg, entries, root.accounts)),
        ports=ports,
        reuse_port=True,
        sockets=sockets or None,
        credentials=root.credentials,
        limiter=root.limiter,
        evaluations=root.evaluations,
        junk_data=root.junk_data,
    )
    try:
        await smtp.start()
    except (BindError, ListenerConfigError, OSError) as exc:
        kind = "bind" if isinstance(exc, (BindError, OSError)) else "config"
        report(messages.ERROR + f" {kind} {exc}".replace("\n", "; ").encode())
        return 2
    report(messages.READY)
    log.debug("smtp worker ready", extra={"worker": spec.index, "pid": os.getpid()})
    watcher = asyncio.create_task(_watch_domains(cfg, stop))
    await stop.wait()
    await smtp.stop()
    watcher.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watcher
    return 0


def main(argv: list[str]) -> int:
    spec = Spec.decode(argv[1])
    cfg = boot(
        spec.parent, spec.index, spec.config, spec.log_time,
        lambda reason: report(messages.ERROR + b" " + reason.encode()),
    )  # fmt: skip
    if isinstance(cfg, int):
        return cfg
    try:
        return asyncio.run(serve(spec, cfg))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
