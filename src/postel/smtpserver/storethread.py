"""The delivery thread of an event loop: writes message files and stores them.

A session hands its message to the thread of its event loop through a queue
and awaits a future. The thread takes every waiting job at once, reserves the
message ids of the batch (AccountStore.reserve_ids), writes each message
straight to the message path of its first target (hard links for the others),
fsyncs the files and their directories all at once, delivers the batch with
one store transaction per account (AccountStore.deliver_many: one WAL commit)
and completes all futures of the batch with one call_soon_threadsafe. This
replaces asyncio.to_thread per message (executor submit, future chaining, one
loop wake-up per message), and keeps the fsyncs of files and directories out
of the account's writer lock.

Durability is unchanged: a future completes only after the file, its
directory and the index row are durable (shared/DESIGN.md "Data directory").

Measured in-process (2000 messages of 5 KB, 8 tasks; /work/notes/issue10-store-bench.py):
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from postel.fsutil import fsync_dir, fsync_file
from postel.smtpserver.compose import header_prefix, write_message
from postel.store.account import Delivery
from postel.store.envelope import HEADER_LIMIT, Envelope, header_block, parse_envelope

if TYPE_CHECKING:
    from postel.store.store import Store

log = logging.getLogger("postel.smtpserver")

IDLE_SECONDS = 5.0

# (account, mailbox, msgid) delivered, and the error that stopped delivery.
Result = tuple[list[tuple[str, str, int]], Exception | None]


class DeliveryThreadClosed(RuntimeError):
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
    keep_final: bool = False
    wrote_final: bool = False  # final is ours to remove when the job fails
    ids: list[int] = field(default_factory=list)  # reserved, one per target
    paths: list[Path] = field(default_factory=list)  # message file per target
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
            with contextlib.ExitStack() as reserved:
                _reserve_all(jobs, reserved)
                _write_all(jobs)
                _store_all(jobs)
        except BaseException as exc:  # a bug: fail the jobs, keep the thread
            log.exception("delivery thread failed")
            for job in jobs:
                if job.failed is None and job.error is None:
                    job.failed = exc if isinstance(exc, Exception) else RuntimeError(repr(exc))
        _complete_all(jobs)


def _reserve_all(jobs: list[_Job], reserved: contextlib.ExitStack) -> None:
    """Reserve one message id per target, per account for the whole batch; the
    ids stay in flight until *reserved* closes (after the commits). A job whose
    account fails here gets that error and is not written."""
    slots: dict[tuple[Store, str], list[tuple[_Job, int]]] = {}
    for job in jobs:
        job.ids = [0] * len(job.targets)
        for k, (account, _) in enumerate(job.targets):
            slots.setdefault((job.store, account), []).append((job, k))
    for (store, account), members in slots.items():
        try:
            ids = reserved.enter_context(store.account(account).reserve_ids(len(members)))
        except Exception as exc:
            for job, _ in members:
                job.error = exc
            continue
        for (job, k), msgid in zip(members, ids, strict=True):
            job.ids[k] = msgid


def _write_all(jobs: list[_Job]) -> None:
    """Write every message file, then fsync all files and their directories at
    once; a failure fails that job only.

    A job with targets is written to the message path of its first target and
    hard-linked to the others (and to *final* when the caller keeps it); one
    without targets is written to *final*. The fsyncs run concurrently
    (FSYNC_THREADS): the file system then makes them durable in few journal
    commits, as it does for Postfix's concurrent cleanup processes, instead of
    one commit after the other (BENCHMARKS.md)."""
    files: list[tuple[_Job, Path]] = []
    dirs: dict[Path, list[_Job]] = {}
    for job in jobs:
        if job.error is not None:
            continue
        try:
            first = _write_one(job)
        except Exception as exc:
            job.failed = exc
            _discard(job)
            continue
        files.append((job, first))
        for path in job.paths:
            dirs.setdefault(path.parent, []).append(job)
    if len(files) + len(dirs) == 1:
        errors: list[Exception | None] = [_fsync(fsync_file, files[0][1])]
    else:
        work = [(fsync_file, path) for _, path in files] + [(fsync_dir, d) for d in dirs]
        errors = list(_fsync_pool().map(lambda w: _fsync(*w), work))
    failures: list[tuple[list[_Job], Exception]] = [
        ([job], error) for (job, _), error in zip(files, errors, strict=False) if error is not None
    ]
    failures += [
        (members, error)
        for members, error in zip(dirs.values(), errors[len(files) :], strict=True)
        if error is not None
    ]
    for members, error in failures:
        for job in members:
            if job.failed is None:
                job.failed = error
                _discard(job)


def _write_one(job: _Job) -> Path:
    """Write the file of *job* (not yet fsynced); returns the path written."""
    if not job.targets:
        job.size = write_message(job.final, job.headers, job.body, sync=False)
        job.wrote_final = True
        first = job.final
    else:
        accounts = [job.store.account(account) for account, _ in job.targets]
        first = accounts[0].new_message_path(job.ids[0])
        job.size = write_message(first, job.headers, job.body, sync=False)
        job.paths.append(first)
        for acc, msgid in zip(accounts[1:], job.ids[1:], strict=True):
            job.paths.append(acc.link_message(first, msgid))
        if job.keep_final:
            os.link(first, job.final)
            job.wrote_final = True
    if isinstance(job.body, bytes):
        prefix = header_prefix(job.headers, job.body, HEADER_LIMIT)
        job.envelope = parse_envelope(header_block(prefix))
    return first


def _discard(job: _Job) -> None:
    """Remove every file of the failed *job*: its message files and *final*
    when it wrote it."""
    _discard_targets(job, 0)
    if job.wrote_final:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(job.final)


def _discard_targets(job: _Job, start: int) -> None:
    """Remove the message files of targets *start*.. of *job*."""
    for path in job.paths[start:]:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


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


def _fsync(sync: Callable[[Path], None], path: Path) -> Exception | None:
    try:
        sync(path)
    except Exception as exc:
        return exc
    return None


def _store_all(jobs: list[_Job]) -> None:
    """Deliver the written files: in rounds (the n-th target of each job), one
    transaction per account and round. A job stops at its first failed target,
    as a loop over its targets would; the files of the targets it did not
    reach are removed."""
    active = [job for job in jobs if job.failed is None and job.error is None and job.targets]
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
                            job.paths[rnd],
                            requiretls=job.requiretls,
                            size=job.size,
                            envelope=job.envelope,
                            msgid=job.ids[rnd],
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
        for job in active:
            if job.error is not None:
                # The failed target's file (when its store did not remove it)
                # and those of the targets after it.
                _discard_targets(job, len(job.delivered))
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
    *,
    keep_final: bool = False,
) -> Result:
    """Write the message (*headers*, then *body*) and deliver it to each
    (account, mailbox) of *targets*, in the delivery thread of this loop.

    Without targets the message is written to the fsynced file *final*; with
    them, it is also left at *final* when *keep_final* (for forwarding or
    report intake; the caller removes it).

    Returns what was delivered and the error that stopped delivery (if any);
    an error writing the file is raised."""
    loop = asyncio.get_running_loop()
    thread = _threads.get(loop)
    if thread is None:
        thread = _threads[loop] = DeliveryThread()
    fut: asyncio.Future[Result] = loop.create_future()
    thread.submit(_Job(store, final, headers, body, targets, requiretls, fut, keep_final))
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
