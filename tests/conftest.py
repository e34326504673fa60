"""Fixtures for every test: process-wide logging settings restored after each test.

postel.log.configure() (called by the serve/localserve commands, which some
tests run in-process) switches off logging's caller, thread and process
lookups for the whole process and replaces the "postel" logger's handler.
Without this, tests after such a test would see those settings (pytest's
captured log would name "(unknown file):0")."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from postel import log, logsafety
from postel.metrics import runtime

# No per-example time limit: speed is measured in bench/, not in tests, and a
# busy machine (CI, parallel work) made hypothesis's 200 ms deadline flaky.
settings.register_profile("postel", deadline=None)
settings.load_profile("postel")

_FLAGS = ("_srcfile", "logThreads", "logProcesses", "logMultiprocessing")


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    saved = {name: getattr(logging, name) for name in _FLAGS}
    postel = logging.getLogger("postel")
    handlers, level, propagate = list(postel.handlers), postel.level, postel.propagate
    levels = _package_levels()
    foreign = {
        name: (list(lg.handlers), lg.level, lg.propagate)
        for name in (*log.FOREIGN_LOGGERS, *log.QUIET_LOGGERS)
        for lg in [logging.getLogger(name)]
    }
    yield
    for name, (f_handlers, f_level, f_propagate) in foreign.items():
        lg = logging.getLogger(name)
        lg.handlers[:] = f_handlers
        lg.setLevel(f_level)
        lg.propagate = f_propagate
    for name, lvl in _package_levels().items():
        if lvl != levels.get(name, logging.NOTSET):
            logging.getLogger(name).setLevel(levels.get(name, logging.NOTSET))
    for name, value in saved.items():
        setattr(logging, name, value)
    for handler in list(postel.handlers):
        if handler not in handlers:
            postel.removeHandler(handler)
    for handler in handlers:
        if handler not in postel.handlers:
            postel.addHandler(handler)
    postel.setLevel(level)
    postel.propagate = propagate


def _package_levels() -> dict[str, int]:
    """Levels of the existing postel.<package> loggers (configure sets them)."""
    return {
        name: logger.level
        for name, logger in logging.Logger.manager.loggerDict.items()
        if name.startswith("postel.") and isinstance(logger, logging.Logger)
    }


@pytest.fixture(autouse=True)
def _no_logging_failures(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test fails when a logging call failed during it (postel.logsafety keeps
    such failures from breaking mail, so only this makes them visible). Tests
    that plant a failure on purpose are marked ``logging_failures``."""
    logsafety.reset_failures()
    yield
    failures = logsafety.reported_failures()
    count = logsafety.failure_count()
    logsafety.reset_failures()
    if count and request.node.get_closest_marker("logging_failures") is None:
        pytest.fail(f"{count} logging failure(s): " + "; ".join(failures), pytrace=False)


@pytest.fixture
def metrics_dir(tmp_path: Path) -> Iterator[Path]:
    """Metrics on in this process, into a fresh directory; off afterwards
    (samples read with metricsamples.scrape)."""
    path = tmp_path / "metrics"
    runtime.enable(path, wipe=True)
    try:
        yield path
    finally:
        runtime.disable()
