"""The metrics of a running instance: recording on from the start, the
listener with /metrics and /healthz once every part runs (postel.server)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Protocol

from postel.config import Config
from postel.metrics import runtime
from postel.metrics.health import Check, Probe
from postel.metrics.scrape import LiveSources


class QueueLike(Protocol):
    """postel.queue.Queue as the health checks and metrics read it."""

    @property
    def alive(self) -> bool: ...
    def counts(self) -> tuple[int, int]: ...


class StoreLike(Protocol):
    @property
    def closed(self) -> bool: ...


def start_recording(enabled: bool, datadir_root: Path, stack: AsyncExitStack) -> None:
    """Metrics on in this (the main) process when *enabled* ([metrics]), the
    directory under *datadir_root* wiped; off when *stack* closes. Before any
    worker starts: they write into the same directory."""
    if not enabled:
        return
    runtime.enable(runtime.directory(datadir_root), wipe=True)
    stack.callback(runtime.disable)


def checks(smtp: Probe | None, queue: QueueLike | None, store: StoreLike | None) -> list[Check]:
    """/healthz: SMTP listeners up, delivery loop alive, databases open."""
    out: list[Check] = []
    if smtp is not None:
        out.append(Check("listeners", smtp))
    if queue is not None:

        def loop() -> str | None:
            return None if queue.alive else "the queue's delivery loop is not running"

        def databases() -> str | None:
            queue.counts()  # a query on queue/index.db: raises when it cannot be read
            if store is not None and store.closed:
                return "the message store is closed"
            return None

        out.append(Check("queue", loop))
        out.append(Check("databases", databases))
    return out


async def start_listener(
    cfg: Config,
    stack: AsyncExitStack,
    *,
    smtp: Probe | None,
    queue: QueueLike | None,
    store: StoreLike | None,
) -> list[tuple[str, int, str]]:
    """Serve /metrics and /healthz per [metrics]; (ip, port, "metrics") bound."""
    if not cfg.static.metrics.enabled:
        return []
    from postel.metrics.certs import listener_certificates
    from postel.metrics.listener import build_app
    from postel.metrics.listener import start_listener as listen

    sources = LiveSources(
        queue_counts=queue.counts if queue is not None else None,
        certificates=lambda: listener_certificates(cfg.listener_cert_files()),
    )
    found: Sequence[Check] = checks(smtp, queue, store)
    app = build_app(runtime.directory(cfg.datadir.root), sources, lambda: found)
    ip, port = await listen(cfg.static.metrics.ip, cfg.static.metrics.port, app, stack)
    return [(ip, port, "metrics")]
