"""The delivery thread of an event loop: writes message files and stores them.

A session hands its message to the thread of its event loop through a queue
and awaits a future. The thread takes every waiting job at once, writes each
message file and fsyncs them (those of a batch concurrently), delivers the
batch with one store transaction per account (AccountStore.deliver_many: one
WAL commit, one fsync per message directory) and completes all futures of the
batch with one call_soon_threadsafe. This replaces asyncio.to_thread per message (executor
submit, future chaining, one loop wake-up per message).

Durability is unchanged: a future completes only after the file, its
directory and the index row are durable (docs/data-safety.md, Durability).

Measured in-process (2000 messages of 5 KB from 8 tasks):
user CPU per message 410-540 µs with to_thread, 200-310 µs with this thread; two
processes on one account: p99 93-150 ms before the flock writer lock, ~40 ms after.

The thread starts with the first job, ends after IDLE_SECONDS without jobs
(a daemon thread: it never holds up interpreter exit) and is stopped by
:func:`stop_delivery_thread`; jobs queued before the stop are still done.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import queue
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from postel.errors import PostelError
from postel.fsutil import fsync_file
from postel.smtpserver.compose import header_prefix, write_message
from postel.store.account import Delivery
from postel.store.envelope import HEADER_LIMIT, Envelope, header_block, parse_envelope

if TYPE_CHECKING:
    from postel.store.store import Store

log = logging.getLogger("postel.smtpserver")

IDLE_SECONDS = 5.0

# (account, mailbox, msgid) delivered, and the error that stopped delivery.
Result = tuple[list[tuple[str, str, int]], Exception | None]


class DeliveryThreadClosed(PostelError):
    """A job was handed to a delivery thread after it was stopped."""


@dataclass(eq=False, slots=True)
class _Job:
    store: Store
    final: Path
    headers: bytes
    body: bytes | Path
    targets: Sequence[tuple[str, str]]
    requiretls: bool
    future: asyncio.Future[Result]
    delivered: list[tuple[str, str, int]] = field(default_factory=list)
    error: Exception | None = None  # a store error: stops the remaining targets
    failed: BaseException | None = None  # writing the file failed: raised to the caller
    size: int | None = None
    envelope: Envelope | None = None


class DeliveryThread:
    """One thread writing and storing the messages of one event loop."""

    def __init__(self, idle_seconds: float = IDLE_SECONDS) -> None:
        self._idle = idle_seconds
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    def submit(self, job: _Job) -> None:
        with self._lock:
            if self._closed:
                raise DeliveryThreadClosed("the delivery thread is stopped")
            self._queue.put(job)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="postel-delivery", daemon=True
                )
                self._thread.start()

    def close(self) -> threading.Thread | None:
        """Refuse new jobs; the thread finishes the queued ones, then ends.
        Returns the thread to join (None when none runs)."""
        with self._lock:
            self._closed = True
            thread = self._thread
            if thread is not None:
                self._queue.put(None)
        return thread

    @property
    def running(self) -> bool:
        with self._lock:
            return self._thread is not None

    def _run(self) -> None:
        stop = False
        while True:
            try:
                first = self._queue.get(timeout=self._idle)
            except queue.Empty:
                first = None
                if not self._closed:
                    with self._lock:
                        if self._queue.empty():
                            self._thread = None
                            return
                    continue
            jobs: list[_Job] = []
            item: _Job | None = first
            while True:
                if item is None:
                    stop = stop or self._closed
                else:
                    jobs.append(item)
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if jobs:
                self._process(jobs)
            if stop:
                with self._lock:
                    if self._queue.empty():
                        self._thread = None
                        return

    def _process(self, jobs: list[_Job]) -> None:
        try:
            _write_all(jobs)
            _store_all(jobs)
        except BaseException as exc:  # a bug: fail the jobs, keep the thread
            log.exception("delivery thread failed")
            for job in jobs:
                if job.failed is None and job.error is None:
                    job.failed = exc if isinstance(exc, Exception) else RuntimeError(repr(exc))
        _complete_all(jobs)


def _write_all(jobs: list[_Job]) -> None:
    """Write and fsync every message file; a failure fails that job only.

    The files of a batch of several are fsynced at the same time (FSYNC_THREADS):
    the file system then makes them durable in one journal commit, as it does
    for Postfix's concurrent cleanup processes, instead of one commit after the
    other (BENCHMARKS.md)."""
    parallel = len(jobs) > 1
    for job in jobs:
        try:
            job.size = write_message(job.final, job.headers, job.body, sync=not parallel)
            if isinstance(job.body, bytes):
                prefix = header_prefix(job.headers, job.body, HEADER_LIMIT)
                job.envelope = parse_envelope(header_block(prefix))
        except Exception as exc:
            job.failed = exc
    if parallel:
        written = [job for job in jobs if job.failed is None]
        for job, error in zip(written, _fsync_pool().map(_fsync, written), strict=True):
            if error is not None:
                job.failed = error
                with contextlib.suppress(OSError):
                    os.unlink(job.final)


FSYNC_THREADS = 4
_pool: concurrent.futures.ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _fsync_pool() -> concurrent.futures.ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = concurrent.futures.ThreadPoolExecutor(
                FSYNC_THREADS, thread_name_prefix="postel-fsync"
            )
        return _pool


def _fsync(job: _Job) -> Exception | None:
    try:
        fsync_file(job.final)
    except Exception as exc:
        return exc
    return None


def _store_all(jobs: list[_Job]) -> None:
    """Deliver the written files: in rounds (the n-th target of each job), one
    transaction per account and round. A job stops at its first failed target,
    as a loop over its targets would."""
    active = [job for job in jobs if job.failed is None and job.targets]
    rnd = 0
    while active:
        groups: dict[tuple[Store, str], list[_Job]] = {}
        for job in active:
            groups.setdefault((job.store, job.targets[rnd][0]), []).append(job)
        for (store, account), members in groups.items():
            try:
                acc = store.account(account)
                results = acc.deliver_many(
                    [
                        Delivery(
                            job.targets[rnd][1],
                            job.final,
                            requiretls=job.requiretls,
                            size=job.size,
                            envelope=job.envelope,
                        )
                        for job in members
                    ]
                )
            except Exception as exc:
                for job in members:
                    job.error = exc
                continue
            for job, result in zip(members, results, strict=True):
                if isinstance(result, Exception):
                    job.error = result
                else:
                    job.delivered.append((account, job.targets[rnd][1], result.msgid))
        rnd += 1
        active = [job for job in active if job.error is None and len(job.targets) > rnd]


def _complete_all(jobs: list[_Job]) -> None:
    """Complete the futures: one call_soon_threadsafe per event loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Job]] = {}
    for job in jobs:
        by_loop.setdefault(job.future.get_loop(), []).append(job)
    for loop, members in by_loop.items():
        try:
            loop.call_soon_threadsafe(_complete, members)
        except RuntimeError:  # the loop is closed: nobody waits any more
            log.debug("delivery finished after its event loop closed")


def _complete(jobs: list[_Job]) -> None:
    for job in jobs:
        fut = job.future
        if fut.done():  # cancelled while the thread worked
            continue
        if job.failed is not None:
            fut.set_exception(job.failed)
        else:
            fut.set_result((job.delivered, job.error))


_threads: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, DeliveryThread] = (
    weakref.WeakKeyDictionary()
)


async def write_and_store(
    store: Store,
    final: Path,
    headers: bytes,
    body: bytes | Path,
    targets: Sequence[tuple[str, str]],
    requiretls: bool,
) -> Result:
    """Write the fsynced file *final* (*headers*, then *body*), then deliver it to
    each (account, mailbox) of *targets*, in the delivery thread of this loop.

    Returns what was delivered and the error that stopped delivery (if any);
    an error writing the file is raised."""
    loop = asyncio.get_running_loop()
    thread = _threads.get(loop)
    if thread is None:
        thread = _threads[loop] = DeliveryThread()
    fut: asyncio.Future[Result] = loop.create_future()
    thread.submit(_Job(store, final, headers, body, targets, requiretls, fut))
    return await fut


async def stop_delivery_thread(timeout: float = 30.0) -> None:
    """Stop the delivery thread of the running loop after its queued jobs
    (e.g. from SMTPService.stop); a later delivery starts a new one."""
    thread = _threads.pop(asyncio.get_running_loop(), None)
    if thread is None:
        return
    running = thread.close()
    if running is not None:
        await asyncio.to_thread(running.join, timeout)
