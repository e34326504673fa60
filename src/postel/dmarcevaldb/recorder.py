"""Recording evaluations from an SMTP process without slowing its sessions.

:meth:`EvalRecorder.add` only puts the evaluation on a queue; one thread per
process takes everything waiting and stores it in one transaction (one WAL
commit for a burst of messages). The database is opened in that thread, so
each SMTP worker process has its own connection (SQLite WAL allows the
concurrent writers, serialised by its lock and busy timeout). On PostgreSQL
the thread writes to the evaluations its process opened (*shared*).
"""

from __future__ import annotations

import logging
import queue
import threading
from pathlib import Path

from postel.dmarcevaldb.api import EvalWriter
from postel.dmarcevaldb.db import EvalDB
from postel.dmarcevaldb.record import Evaluation

log = logging.getLogger("postel.dmarcevaldb")

IDLE_SECONDS = 30.0
MAX_PENDING = 100_000  # beyond this, evaluations are dropped (and logged), never blocking


class EvalRecorder:
    """Stores evaluations in the background; :meth:`close` waits for pending ones."""

    def __init__(
        self,
        path: Path,
        *,
        idle_seconds: float = IDLE_SECONDS,
        shared: EvalWriter | None = None,
    ) -> None:
        """*path*: dmarceval.db, opened by the thread; *shared*: where to store
        instead (left open)."""
        self.path = path
        self._shared = shared
        self._idle = idle_seconds
        self._queue: queue.SimpleQueue[Evaluation | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.dropped = 0

    def add(self, evaluation: Evaluation) -> None:
        """Queue *evaluation* for storing; never blocks, never raises."""
        if self._closed or self._queue.qsize() >= MAX_PENDING:
            self.dropped += 1
            log.warning(
                "dmarc evaluation dropped", extra={"policy_domain": evaluation.policy_domain}
            )
            return
        self._queue.put(evaluation)
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="dmarc-evaluations", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        db: EvalDB | None = None
        where = str(self.path) if self._shared is None else "shared evaluations"
        try:
            while True:
                try:
                    first = self._queue.get(timeout=self._idle)
                except queue.Empty:
                    with self._lock:
                        if self._queue.empty():
                            self._thread = None
                            return
                    continue
                batch = [first]
                while True:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                stop = None in batch
                items = [e for e in batch if e is not None]
                if items:
                    try:
                        if self._shared is not None:
                            self._shared.add(items)
                        else:
                            if db is None:
                                db = EvalDB.open(self.path)
                            db.add(items)
                    except Exception as exc:
                        log.error(
                            "cannot store dmarc evaluations",
                            extra={"count": len(items), "err": repr(exc), "db": where},
                        )
                if stop:
                    return
        finally:
            if db is not None:
                db.close()

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until everything added so far is stored (tests, shutdown)."""
        with self._lock:
            thread = self._thread
            self._thread = None
        if thread is None or not thread.is_alive():
            return
        self._queue.put(None)
        thread.join(timeout)

    def close(self, timeout: float = 10.0) -> None:
        self._closed = True
        self.flush(timeout)
