"""One delivery worker process: ``python -m postel.deliveryworkers.worker SPEC``.

SPEC is JSON from the main process (postel.deliveryworkers.spec). The worker
builds its own Deliverer, as the main process does with one process
(postel.services): its own resolver with its DNS cache, MTA-STS cache and
store. It reads request frames on stdin, delivers each in a task of its own
and writes the outcome frame on stdout (postel.deliveryworkers.codec); it
records nothing itself. Logs go to stderr, each line with the attempt's cid.
It stops when stdin ends, on SIGTERM/SIGINT, or when the main process dies
(PR_SET_PDEATHSIG): running deliveries finish first, then its idle
connections get QUIT.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

from postel.deliveryworkers import codec, frames
from postel.deliveryworkers.errors import FrameDecodeError
from postel.deliveryworkers.spec import Spec
from postel.workerprocess import boot

if TYPE_CHECKING:
    from postel.config import Config
    from postel.delivery import Deliverer

log = logging.getLogger("postel.deliveryworkers")

# Log cid slots of delivery workers start here (SMTP workers use 1 .. 64).
CID_SLOT_BASE = 100
# At a stop, seconds that running deliveries get before they are cancelled
# (the main process's queue stop waits as long, and ends its attempts first).
STOP_GRACE = 60.0


async def open_deliverer(cfg: Config, stack: AsyncExitStack) -> Deliverer:
    """The Deliverer of this process, built as postel.services builds the main
    process's: SQLite (the data directory's store and mtasts.db) or PostgreSQL
    (the node's pool and the shared MTA-STS cache)."""
    from postel.delivery import Deliverer
    from postel.dns.cache import CachingResolver
    from postel.mtastsdb import PolicyCache
    from postel.services import DELIVERY_DNS_MAX_AGE
    from postel.store.api import Accounts
    from postel.wiring import (
        make_resolver,
        on_postgresql,
        open_mtastsdb,
        open_pg,
        open_pg_mtasts,
        open_pg_received,
        open_store,
    )

    store: Accounts
    mtastsdb: PolicyCache
    if on_postgresql(cfg):
        pg = await open_pg(cfg, stack)
        store = pg.accounts
        mtastsdb = open_pg_mtasts(cfg, await open_pg_received(cfg, stack))
    else:
        sqlite_store = open_store(cfg)
        stack.callback(sqlite_store.close)
        store = sqlite_store
        sqlite_mtasts = open_mtastsdb(cfg)
        stack.callback(sqlite_mtasts.close)
        mtastsdb = sqlite_mtasts
    deliverer = Deliverer(
        cfg, CachingResolver(make_resolver(cfg), max_age=DELIVERY_DNS_MAX_AGE), mtastsdb, store
    )
    # Closed before the store and caches (LIFO): QUIT on idle connections.
    stack.push_async_callback(deliverer.aclose)
    return deliverer


class _Out:
    """The frames to the main process, one write each (stdout is a pipe only it reads)."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer

    async def send(self, frame: codec.Frame) -> None:
        self.writer.write(frames.pack(codec.encode(frame)))
        await self.writer.drain()


async def _pipes() -> tuple[asyncio.StreamReader, _Out]:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=frames.MAX_FRAME)
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(0, "rb", buffering=0)
    )
    transport, protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, os.fdopen(1, "wb", buffering=0)
    )
    writer = asyncio.StreamWriter(transport, protocol, None, loop)
    return reader, _Out(writer)


async def _deliver(deliverer: Deliverer, out: _Out, frame: codec.RequestFrame) -> None:
    from postel.log import cid_context
    from postel.queue.deliver import failed_outcome

    with cid_context(frame.cid):
        try:
            outcome = await deliverer.deliver(frame.request)
        except asyncio.CancelledError:
            outcome = failed_outcome(
                frame.request.rcpts, "temporary", "4.3.0", "delivery worker stopped"
            )
        except Exception as exc:
            log.exception("deliverer raised", extra={"domain": frame.request.domain})
            outcome = failed_outcome(
                frame.request.rcpts, "temporary", "4.3.0", f"internal delivery error: {exc!r}"
            )
        with contextlib.suppress(ConnectionError, OSError):
            await out.send(codec.OutcomeFrame(frame.id, outcome))


async def _read_requests(
    reader: asyncio.StreamReader,
    deliverer: Deliverer,
    out: _Out,
    running: set[asyncio.Task[None]],
) -> None:
    """Start a delivery for each request frame until stdin ends."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            data = await frames.read_frame(reader)
        except (asyncio.IncompleteReadError, OSError):
            return
        if data is None:
            return
        try:
            frame = codec.decode(data)
        except FrameDecodeError as exc:
            log.error("delivery request refused", extra={"err": str(exc)})
            continue
        if isinstance(frame, codec.RequestFrame):
            task = loop.create_task(_deliver(deliverer, out, frame))
            running.add(task)
            task.add_done_callback(running.discard)


async def serve(spec: Spec, cfg: Config) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    reader, out = await _pipes()
    async with AsyncExitStack() as stack:
        try:
            deliverer = await open_deliverer(cfg, stack)
        except Exception as exc:
            await out.send(codec.StatusFrame(False, str(exc).replace("\n", "; ")))
            return 2
        await out.send(codec.StatusFrame(True))
        log.debug("delivery worker ready", extra={"worker": spec.index, "pid": os.getpid()})
        running: set[asyncio.Task[None]] = set()
        reading = asyncio.ensure_future(_read_requests(reader, deliverer, out, running))
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait((reading, stopped), return_when=asyncio.FIRST_COMPLETED)
        finally:
            # stdin ended: the main process has stopped its queue (or died), so
            # nobody waits for an outcome any more and running deliveries end at
            # once. Signalled (systemd's stop reaches every process): the main
            # process's queue still waits for them, and they get STOP_GRACE.
            grace = 0.0 if reading.done() else STOP_GRACE
            reading.cancel()
            stopped.cancel()
            if running:
                late = set(running)
                if grace:
                    _, late = await asyncio.wait(running, timeout=grace)
                for t in late:
                    t.cancel()
                if late:
                    await asyncio.wait(late)
    return 0


def main(argv: list[str]) -> int:
    spec = Spec.decode(argv[1])

    def refuse(reason: str) -> None:
        with contextlib.suppress(OSError):
            os.write(1, frames.pack(codec.encode(codec.StatusFrame(False, reason))))

    cfg = boot(spec.parent, CID_SLOT_BASE + spec.index, spec.config, spec.log_time, refuse)
    if isinstance(cfg, int):
        return cfg
    try:
        return asyncio.run(serve(spec, cfg))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
