"""Metrics on or off for this process, and the directory the processes share.

prometheus_client's multiprocess mode: each process writes its values to
files in one directory (PROMETHEUS_MULTIPROC_DIR), the scrape sums them. The
main process wipes the directory at start (values of an earlier run would
count again) and tells it when an SMTP worker has exited (its "live" gauges
go). Until :func:`enable` runs, recording does nothing.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from postel.metrics.definitions import Metrics

log = logging.getLogger("postel.metrics")

ENV = "PROMETHEUS_MULTIPROC_DIR"
DIRNAME = "metrics"  # inside the data directory

_current: Metrics | None = None
_path: Path | None = None


def directory(data_root: Path) -> Path:
    return data_root / DIRNAME


def current() -> Metrics | None:
    """This process's metrics; None while metrics are off."""
    return _current


def enable(path: Path, *, wipe: bool) -> Metrics:
    """Record metrics into *path* from now on (*wipe*: the main process, at start).

    prometheus_client picks its value class when first imported, from the
    environment; postel sets the variable and a fresh multiprocess value class
    here instead, so that metrics work whenever prometheus_client was first
    imported, and each start (tests start several) writes into its own files.
    """
    global _current, _path
    from prometheus_client import values

    if wipe and path.exists():
        shutil.rmtree(path)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.environ[ENV] = str(path)  # read by prometheus_client for each new label set
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
    _current, _path = Metrics(), path
    log.debug("metrics enabled", extra={"dir": str(path)})
    return _current


def disable() -> None:
    """Stop recording (the instance stopped); the files stay until the next start."""
    global _current, _path
    from prometheus_client import values

    _current, _path = None, None
    os.environ.pop(ENV, None)
    values.ValueClass = values.MutexValue  # metrics made later keep their values in memory


def process_exited(pid: int) -> None:
    """A process that wrote into this process's directory exited (an SMTP
    worker): drop its live gauges, keep its counters."""
    if _path is None:
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, str(_path))  # type: ignore[no-untyped-call]
