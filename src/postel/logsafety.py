"""Logging never breaks mail: a failure inside logging is counted, reported
once on stderr, and the work that logged goes on.

Two places can fail. ``Logger.makeRecord`` raises KeyError when an ``extra``
key names an attribute of the LogRecord ("name", "msg", "module", ...):
:class:`SafeLogger` keeps such a value under the key with a trailing ``_``
instead. A handler can fail while formatting or writing (a bad ``%`` argument,
a value whose ``str()`` raises, a full disk, a closed stream): postel's handler
calls :func:`note_failure` from ``handleError``, instead of the standard
library's traceback on every failure.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from collections.abc import Mapping
from types import TracebackType
from typing import Any

# Every attribute a LogRecord has once formatted; an ``extra`` key among these
# would overwrite it. taskName is listed even where this Python lacks it.
RESERVED_EXTRA = frozenset(
    set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}
)

# At most this many distinct failures are printed per process; all are counted.
_MAX_REPORTED = 10

_lock = threading.Lock()
_count = 0
_reported: list[str] = []


def failure_count() -> int:
    """How many logging failures this process has had."""
    return _count


def reported_failures() -> list[str]:
    """The lines printed on stderr so far (one per distinct failure)."""
    with _lock:
        return list(_reported)


def reset_failures() -> None:
    """Forget counted failures (tests that plant one on purpose)."""
    global _count
    with _lock:
        _count = 0
        _reported.clear()


def note_failure(what: str, where: str) -> None:
    """Count one failure; print it on stderr the first time it is seen."""
    global _count
    line = f"postel: logging failed: {what} ({where}); the work goes on"
    with _lock:
        _count += 1
        if line in _reported or len(_reported) >= _MAX_REPORTED:
            return
        _reported.append(line)
        if len(_reported) == _MAX_REPORTED:
            line += "; further logging failures are counted, not printed"
    try:
        stderr = sys.__stderr__ or sys.stderr
        stderr.write(line + "\n")
        stderr.flush()
    except Exception:  # stderr itself is gone: counted is all we can do
        pass


def note_handler_failure(record: logging.LogRecord) -> None:
    """For ``Handler.handleError``: the exception being handled, and the record's
    logger and message template (never its arguments, which may hold secrets)."""
    exc = sys.exc_info()[1]
    what = "unknown error" if exc is None else f"{type(exc).__name__}: {exc}"
    note_failure(what, f"logger {record.name}, message {str(record.msg)[:80]!r}")


def _caller() -> str:
    """file:line of the code that made the logging call."""
    for frame in reversed(traceback.extract_stack(limit=12)[:-1]):
        path = frame.filename.replace("\\", "/")
        if "/logging/" not in path and not path.endswith("/logsafety.py"):
            return f"{path.rsplit('/src/', 1)[-1]}:{frame.lineno}"
    return "unknown caller"


class SafeLogger(logging.Logger):
    """A Logger whose records never fail to be made: an ``extra`` key that
    clashes with a LogRecord attribute is logged as ``<key>_``."""

    def makeRecord(
        self,
        name: str,
        level: int,
        fn: str,
        lno: int,
        msg: object,
        args: Any,
        exc_info: tuple[type[BaseException], BaseException, TracebackType | None]
        | tuple[None, None, None]
        | None,
        func: str | None = None,
        extra: Mapping[str, object] | None = None,
        sinfo: str | None = None,
    ) -> logging.LogRecord:
        if extra and not RESERVED_EXTRA.isdisjoint(extra):
            clash = sorted(RESERVED_EXTRA.intersection(extra))
            note_failure(f"extra key {', '.join(clash)} is a LogRecord attribute", _caller())
            extra = {(k + "_" if k in RESERVED_EXTRA else k): v for k, v in extra.items()}
        return super().makeRecord(name, level, fn, lno, msg, args, exc_info, func, extra, sinfo)


def install() -> None:
    """Make loggers created from now on SafeLoggers, unless the application
    chose its own logger class (then it keeps it)."""
    if logging.getLoggerClass() is logging.Logger:
        logging.setLoggerClass(SafeLogger)
