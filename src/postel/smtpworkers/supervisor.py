"""The main process's side of the SMTP workers: start, watch, restart, stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from postel.config import Config
from postel.metrics import runtime as metrics
from postel.smtpserver.errors import BindError, ListenerConfigError
from postel.smtpworkers import messages
from postel.smtpworkers.errors import WorkerStartError
from postel.smtpworkers.reserve import Reserved, release, reserve_ports
from postel.smtpworkers.spec import Spec
from postel.workerprocess import BACKOFF_FIRST, Halt, restart, start, start_all

log = logging.getLogger("postel.smtpworkers")

START_TIMEOUT = 30.0  # seconds for a worker to say ready
STOP_TIMEOUT = 10.0  # seconds after SIGTERM before SIGKILL


@dataclass(eq=False)
class _Worker:
    index: int
    proc: asyncio.subprocess.Process | None = None
    task: asyncio.Task[None] | None = None
    restarts: int = 0
    ready: bool = False  # said "ready" (listening)


class Supervisor:
    """Runs *count* SMTP worker processes for *cfg* (config loaded from cfg.dir).

    ``start()`` reserves the ports and returns once every worker listens (or
    raises BindError / ListenerConfigError / WorkerStartError with the
    worker's reason); *on_wake* is called when a worker queued something.
    *shutdown* is the instance's stop event: once set, a worker that exits is
    not restarted, even before ``stop()`` is reached.
    """

    def __init__(
        self,
        cfg: Config,
        count: int,
        *,
        on_wake: Callable[[], None] | None = None,
        log_time: bool = True,
        start_timeout: float = START_TIMEOUT,
        stop_timeout: float = STOP_TIMEOUT,
        shutdown: asyncio.Event | None = None,
        sockets: Mapping[tuple[str, str, str], socket.socket] | None = None,
    ) -> None:
        self.cfg = cfg
        self.count = count
        self.on_wake = on_wake
        self.log_time = log_time
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.reserved: list[Reserved] = []
        self.workers = [_Worker(i + 1) for i in range(count)]
        self._halt = Halt(shutdown)
        # Bound before the switch to an unprivileged user (postel.privdrop): every
        # worker inherits these listening sockets instead of binding its own.
        # Only SMTP's: not "web", nor "http01" of the ACME responder (postel.acme).
        smtp = ("smtp", "submission", "submissions")
        self.sockets = {k: v for k, v in (sockets or {}).items() if k[1] in smtp}

    @property
    def bound(self) -> list[tuple[str, int, str]]:
        return [(ip, port, kind) for _, kind, ip, port in self._ports()]

    def _ports(self) -> list[tuple[str, str, str, int]]:
        """(listener, kind, ip, port) of every SMTP socket."""
        if self.sockets:
            return [
                (name, kind, ip, int(sock.getsockname()[1]))
                for (name, kind, ip), sock in self.sockets.items()
            ]
        return [(r.listener, r.kind, r.ip, r.port) for r in self.reserved]

    def pids(self) -> list[int]:
        """Pids of the workers that are up and listening (for tests and operators)."""
        return [
            w.proc.pid
            for w in self.workers
            if w.ready and w.proc is not None and w.proc.returncode is None
        ]

    def health(self) -> str | None:
        """None when every worker is up and listening (for /healthz)."""
        up = len(self.pids())
        return None if up == self.count else f"{up} of {self.count} SMTP workers are up"

    async def start(self) -> None:
        if not self.sockets:
            self.reserved = reserve_ports(self.cfg)
        try:
            await start_all(self._spawn(w) for w in self.workers)
        except BaseException:
            await self.stop()
            raise
        for w in self.workers:
            w.task = asyncio.get_running_loop().create_task(
                self._supervise(w), name=f"postel-smtp-worker-{w.index}"
            )
        log.info("smtp workers started", extra={"workers": self.count, "pids": self.pids()})

    def _spec(self, w: _Worker) -> Spec:
        return Spec(
            config=str(self.cfg.dir),
            index=w.index,
            parent=os.getpid(),
            ports=self._ports(),
            log_time=self.log_time,
            fds=[
                (name, kind, ip, sock.fileno()) for (name, kind, ip), sock in self.sockets.items()
            ],
        )

    async def _spawn(self, w: _Worker) -> None:
        """Start worker *w* and wait for its first line."""
        proc = await start(
            "postel.smtpworkers.worker",
            self._spec(w).encode(),
            pass_fds=tuple(sock.fileno() for sock in self.sockets.values()),
        )
        w.proc, w.ready = proc, False
        assert proc.stdout is not None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), self.start_timeout)
        except TimeoutError:
            await self._kill(proc)
            raise WorkerStartError(
                f"smtp worker {w.index} did not start within {self.start_timeout:g} s"
            ) from None
        line = line.rstrip(b"\n")
        if line == messages.READY:
            w.ready = True
            log.debug("smtp worker ready", extra={"worker": w.index, "pid": proc.pid})
            return
        await self._kill(proc)
        if line.startswith(messages.ERROR + b" "):
            reason = line[len(messages.ERROR) + 1 :].decode("utf-8", "replace")
            kind, _, text = reason.partition(" ")
            if kind == "bind":
                raise BindError(text)
            if kind == "config":
                raise ListenerConfigError(text)
            raise WorkerStartError(f"smtp worker {w.index}: {text}")
        raise WorkerStartError(
            f"smtp worker {w.index} exited before it was ready (exit code {proc.returncode})"
        )

    async def _supervise(self, w: _Worker) -> None:
        """Read the worker's lines until it exits; restart it unless stopping."""
        loop = asyncio.get_running_loop()
        delay: float | None = BACKOFF_FIRST
        while delay is not None:
            started = loop.time()
            proc = w.proc
            assert proc is not None and proc.stdout is not None
            while line := await proc.stdout.readline():
                if line.rstrip(b"\n") == messages.WAKE and self.on_wake is not None:
                    self.on_wake()
            code = await proc.wait()
            metrics.process_exited(proc.pid)  # its open-connection gauges go
            if await self._halt.stop_requested(code):
                return
            delay = await restart(
                log, "smtp worker", w.index, pid=proc.pid, code=code,
                ran_for=loop.time() - started, delay=delay, halt=self._halt,
                spawn=lambda: self._respawn(w),
            )  # fmt: skip

    async def _respawn(self, w: _Worker) -> int | None:
        await self._spawn(w)
        w.restarts += 1
        return w.proc.pid if w.proc else None

    async def _kill(self, proc: asyncio.subprocess.Process) -> None:
        """SIGTERM, up to stop_timeout for a graceful stop, then SIGKILL."""
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), self.stop_timeout)
            except TimeoutError:
                log.warning("smtp worker did not stop, killing it", extra={"pid": proc.pid})
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if proc.stdin is not None:
            with contextlib.suppress(Exception):
                proc.stdin.close()

    async def stop(self) -> None:
        """Stop every worker (graceful, then killed) and release the ports."""
        self._halt.stopping.set()
        for w in self.workers:  # no restarts from here on
            if w.task is not None:
                w.task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await w.task
                w.task = None
        procs = [w.proc for w in self.workers if w.proc is not None]
        await asyncio.gather(*(self._kill(p) for p in procs), return_exceptions=True)
        release(self.reserved)
        log.info("smtp workers stopped", extra={"workers": self.count})
