"""The main process's side of the delivery workers: a deliverer for the queue
runner that hands each request to one of N worker processes and awaits its
outcome; it starts, watches, restarts and stops them.

The queue runner stays the one owner of the queue: it claims, plans and
records (postel.queue.recorder); a worker only delivers and answers. A worker
that dies fails its requests in flight as temporary (they are retried; SMTP
allows the extra copy a lost answer may cause, RFC 5321 §6.1) and is started
again with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from dataclasses import dataclass, field

from postel.config import Config
from postel.delivery.request import DeliveryOutcome, DeliveryRequest
from postel.deliveryworkers import codec, frames
from postel.deliveryworkers.errors import (
    DeliveryWorkerStartError,
    FrameDecodeError,
    FrameTooLarge,
)
from postel.deliveryworkers.route import worker_for
from postel.deliveryworkers.spec import Spec
from postel.log import cid_var
from postel.metrics import runtime as metrics
from postel.queue.deliver import failed_outcome
from postel.workerprocess import BACKOFF_FIRST, Halt, restart, start, start_all

log = logging.getLogger("postel.deliveryworkers")

START_TIMEOUT = 30.0  # seconds for a worker to say ready
# Seconds a stopping worker gets after its stdin ends (its running deliveries
# have ended already: the queue stopped first), then SIGTERM, then SIGKILL.
STOP_TIMEOUT = 10.0
# A request for a worker being restarted waits this long for it (seconds),
# then fails as temporary.
WAIT_FOR_WORKER = 60.0


@dataclass(eq=False)
class _Worker:
    index: int
    proc: asyncio.subprocess.Process | None = None
    task: asyncio.Task[None] | None = None
    up: asyncio.Event = field(default_factory=asyncio.Event)
    # Requests sent and not answered: their future and recipients.
    pending: dict[int, tuple[asyncio.Future[DeliveryOutcome], list[str]]] = field(
        default_factory=dict
    )
    restarts: int = 0


class DeliveryPool:
    """Delivers through *count* worker processes (config loaded from cfg.dir).

    ``start()`` returns once every worker is ready, or raises
    DeliveryWorkerStartError with the reason; ``deliver`` is the queue
    runner's DelivererLike; ``aclose()`` stops the workers (after the queue).
    """

    def __init__(
        self,
        cfg: Config,
        count: int,
        *,
        log_time: bool = True,
        start_timeout: float = START_TIMEOUT,
        stop_timeout: float = STOP_TIMEOUT,
        shutdown: asyncio.Event | None = None,
    ) -> None:
        if count < 1:
            raise ValueError("count must be at least 1")
        self.cfg = cfg
        self.count = count
        self.log_time = log_time
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.workers = [_Worker(i + 1) for i in range(count)]
        self._ids = 0
        # The instance's stop event: once set, a worker that exits is not
        # started again, even before aclose() is reached.
        self._halt = Halt(shutdown)

    def pids(self) -> list[int]:
        """Pids of the workers that are up (for tests and operators)."""
        return [
            w.proc.pid
            for w in self.workers
            if w.up.is_set() and w.proc is not None and w.proc.returncode is None
        ]

    async def start(self) -> None:
        try:
            await start_all(self._spawn(w) for w in self.workers)
        except BaseException:
            await self.aclose()
            raise
        for w in self.workers:
            w.task = asyncio.get_running_loop().create_task(
                self._supervise(w), name=f"postel-delivery-worker-{w.index}"
            )
        log.info("delivery workers started", extra={"workers": self.count, "pids": self.pids()})

    # -- the queue's side ------------------------------------------------------

    async def deliver(self, req: DeliveryRequest) -> DeliveryOutcome:
        w = self.workers[worker_for(req.domain, self.count)]
        if not w.up.is_set() and not self._halt.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(w.up.wait(), WAIT_FOR_WORKER)
        proc = w.proc
        # Checked and registered without a pause: a worker that is up has its
        # reader running, which fails everything registered once it exits.
        if not w.up.is_set() or proc is None or proc.stdin is None:
            return failed_outcome(req.rcpts, "temporary", "4.3.0", "delivery worker not running")
        self._ids += 1
        fid = self._ids
        fut: asyncio.Future[DeliveryOutcome] = asyncio.get_running_loop().create_future()
        w.pending[fid] = (fut, req.rcpts)
        try:
            with contextlib.suppress(ConnectionError, OSError):  # failed by the reader
                proc.stdin.write(
                    frames.pack(codec.encode(codec.RequestFrame(fid, cid_var.get(), req)))
                )
                await proc.stdin.drain()
            # Shielded: a cancelled attempt (the queue's stop timeout) leaves the
            # future to the reader, which drops the late answer.
            return await asyncio.shield(fut)
        finally:
            w.pending.pop(fid, None)

    # -- processes -------------------------------------------------------------

    def _spec(self, w: _Worker) -> Spec:
        return Spec(str(self.cfg.dir), w.index, os.getpid(), self.log_time)

    async def _spawn(self, w: _Worker) -> None:
        """Start worker *w* and wait for its ready frame."""
        proc = await start(
            "postel.deliveryworkers.worker", self._spec(w).encode(), limit=frames.MAX_FRAME + 4
        )
        w.proc = proc
        assert proc.stdout is not None
        try:
            data = await asyncio.wait_for(frames.read_frame(proc.stdout), self.start_timeout)
        except TimeoutError:
            await self._kill(proc)
            raise DeliveryWorkerStartError(
                f"delivery worker {w.index} did not start within {self.start_timeout:g} s"
            ) from None
        except (asyncio.IncompleteReadError, FrameTooLarge):
            data = None
        frame = None
        if data is not None:
            with contextlib.suppress(FrameDecodeError):
                frame = codec.decode(data)
        if isinstance(frame, codec.StatusFrame) and frame.ready:
            w.up.set()
            log.debug("delivery worker ready", extra={"worker": w.index, "pid": proc.pid})
            return
        await self._kill(proc)
        if isinstance(frame, codec.StatusFrame):
            raise DeliveryWorkerStartError(f"delivery worker {w.index}: {frame.text}")
        raise DeliveryWorkerStartError(
            f"delivery worker {w.index} exited before it was ready (exit code {proc.returncode})"
        )

    async def _read(self, w: _Worker, proc: asyncio.subprocess.Process) -> None:
        """Hand each outcome to its request until the worker's stdout ends."""
        assert proc.stdout is not None
        while True:
            try:
                data = await frames.read_frame(proc.stdout)
            except (asyncio.IncompleteReadError, FrameTooLarge, OSError) as exc:
                log.error("delivery worker pipe broken", extra={"worker": w.index, "err": str(exc)})
                return
            if data is None:
                return
            try:
                frame = codec.decode(data)
            except FrameDecodeError as exc:
                log.error(
                    "delivery worker frame refused", extra={"worker": w.index, "err": str(exc)}
                )
                return
            if isinstance(frame, codec.OutcomeFrame):
                waiting = w.pending.get(frame.id)
                if waiting is not None and not waiting[0].done():
                    waiting[0].set_result(frame.outcome)

    def _fail_pending(self, w: _Worker, why: str) -> None:
        # Temporary: the message is tried again (it may have been delivered
        # before the worker died; RFC 5321 §6.1 accepts the duplicate).
        for fut, rcpts in w.pending.values():
            if not fut.done():
                fut.set_result(failed_outcome(rcpts, "temporary", "4.3.0", why))
        w.pending.clear()

    async def _supervise(self, w: _Worker) -> None:
        """Read the worker's outcomes until it exits; restart it unless stopping."""
        loop = asyncio.get_running_loop()
        delay: float | None = BACKOFF_FIRST
        while delay is not None:
            started = loop.time()
            proc = w.proc
            assert proc is not None
            await self._read(w, proc)
            w.up.clear()
            if proc.returncode is None and not self._halt.is_set():
                await self._kill(proc)  # its pipe broke: start it afresh
            code = await proc.wait()
            metrics.process_exited(proc.pid)
            self._fail_pending(w, "delivery worker exited")
            if await self._halt.stop_requested(code):
                return
            delay = await restart(
                log, "delivery worker", w.index, pid=proc.pid, code=code,
                ran_for=loop.time() - started, delay=delay, halt=self._halt,
                spawn=lambda: self._respawn(w),
            )  # fmt: skip

    async def _respawn(self, w: _Worker) -> int | None:
        await self._spawn(w)
        w.restarts += 1
        return w.proc.pid if w.proc else None

    async def _kill(self, proc: asyncio.subprocess.Process) -> None:
        """End stdin (the worker finishes and exits), then SIGTERM, then SIGKILL."""
        if proc.stdin is not None:
            with contextlib.suppress(Exception):
                proc.stdin.close()
        if proc.returncode is None:
            try:
                await asyncio.wait_for(proc.wait(), self.stop_timeout)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(proc.wait(), self.stop_timeout)
                except TimeoutError:
                    log.warning("delivery worker did not stop, killing it", extra={"pid": proc.pid})
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
                    await proc.wait()

    async def aclose(self) -> None:
        """Stop every worker: each ends its idle connections and exits."""
        self._halt.stopping.set()
        procs = [w.proc for w in self.workers if w.proc is not None]
        await asyncio.gather(*(self._kill(p) for p in procs), return_exceptions=True)
        for w in self.workers:
            if w.task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await w.task
                w.task = None
            self._fail_pending(w, "delivery worker stopped")
        log.info("delivery workers stopped", extra={"workers": self.count})
