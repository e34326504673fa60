"""Structured logging: logfmt lines, trace levels, connection ids, redaction.

A line looks like ``l=info m="message" err=... pkg=smtpserver key=value cid=1a``
(shared/spec/reference-behaviour.md §6). Levels below debug: trace (protocol
lines), traceauth (protocol lines with credentials), tracedata (message data).
Protocol traces are logged with :func:`trace_line`, which redacts passwords as
``***`` and message data as ``...`` unless the more verbose level is enabled.
"""

from __future__ import annotations

import contextvars
import itertools
import logging
import re
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TextIO

TRACE = 8
TRACEAUTH = 6
TRACEDATA = 4

LEVELS: dict[str, int] = {
    "error": logging.ERROR,
    "warn": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
    "trace": TRACE,
    "traceauth": TRACEAUTH,
    "tracedata": TRACEDATA,
}
_NAMES = {v: k for k, v in LEVELS.items()} | {logging.CRITICAL: "error"}

for _name, _num in (("TRACE", TRACE), ("TRACEAUTH", TRACEAUTH), ("TRACEDATA", TRACEDATA)):
    logging.addLevelName(_num, _name)

cid_var: contextvars.ContextVar[int | None] = contextvars.ContextVar("postel_cid", default=None)
# Bits 27 and below count from the start time in ms; the bits above hold the
# process's slot (0: main process, n: SMTP worker n), so that the SMTP worker
# processes of one instance never hand out the same cid (postel.smtpworkers).
_SLOT_SHIFT = 27


def _start_counter(slot: int) -> Iterator[int]:
    return itertools.count((slot << _SLOT_SHIFT) | (int(time.time() * 1000) & 0x3FFFFFF))


_counter = _start_counter(0)


def set_cid_slot(slot: int) -> None:
    """Restart the cid counter in the range of *slot* (a worker process's number)."""
    global _counter
    _counter = _start_counter(slot)


def new_cid() -> int:
    """A new connection/operation id, unique within this process (and among
    the processes of one instance, see :func:`set_cid_slot`)."""
    return next(_counter)


def cid_hex(cid: int | None = None) -> str:
    value = cid if cid is not None else cid_var.get()
    return "" if value is None else format(value, "x")


@contextmanager
def cid_context(cid: int | None = None) -> Iterator[int]:
    """Set a cid for the code run inside (a connection, a delivery attempt)."""
    value = new_cid() if cid is None else cid
    token = cid_var.set(value)
    try:
        yield value
    finally:
        cid_var.reset(token)


# Attributes of every LogRecord, which are not logged as key=value pairs.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_SKIP = frozenset(_STANDARD | {"err", "cid"})


# \w is exactly str.isalnum() plus "_" (both Py_UNICODE_ISALNUM): one regex
# match instead of a Python-level loop per character.
_BARE = re.compile(r"[\w\-./:@+,\[\]*]+")


def _quote(value: str) -> str:
    if _BARE.fullmatch(value) is not None:
        return value
    escaped = (
        value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    )
    return f'"{escaped}"'


def _format_value(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        value = ",".join(str(v) for v in value)
    return _quote(str(value))


SECRET_KEYS = frozenset({"password", "passwd", "secret", "token", "authorization", "cookie"})


class LogfmtFormatter(logging.Formatter):
    """Formats records as logfmt; keys named like secrets are never printed."""

    def __init__(self, with_time: bool = False) -> None:
        super().__init__()
        self.with_time = with_time

    def format(self, record: logging.LogRecord) -> str:
        parts: list[str] = []
        if self.with_time:
            t = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            parts.append(f"t={t}.{int(record.msecs):03d}Z")
        parts.append(f"l={_NAMES.get(record.levelno, record.levelname.lower())}")
        parts.append(f"m={_quote(record.getMessage())}")
        if record.exc_info and record.exc_info[1] is not None:
            parts.append(f"err={_quote(str(record.exc_info[1]))}")
        err = record.__dict__.get("err")
        if err is not None:
            parts.append(f"err={_format_value(err)}")
        name = record.name
        pkg = name.split(".", 2)[1] if name.startswith("postel.") and "." in name else name
        parts.append(f"pkg={_quote(pkg)}")
        for key, value in record.__dict__.items():
            if key in _SKIP or key[:1] == "_":
                continue
            if key.lower() in SECRET_KEYS:
                value = "***"
            parts.append(f"{key}={_format_value(value)}")
        cid = record.__dict__.get("cid")
        if cid is None:
            cid = cid_var.get()
        if cid is not None:
            parts.append(f"cid={format(cid, 'x') if isinstance(cid, int) else cid}")
        return " ".join(parts)


def configure(
    level: str = "info",
    packages: Mapping[str, str] | None = None,
    stream: TextIO | None = None,
    with_time: bool = False,
) -> logging.Handler:
    """Install the logfmt handler on the ``postel`` logger with per-package levels."""
    root = logging.getLogger("postel")
    for handler in list(root.handlers):
        if getattr(handler, "_postel", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(LogfmtFormatter(with_time=with_time))
    handler._postel = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.propagate = False
    root.setLevel(LEVELS[level])
    for pkg, lvl in (packages or {}).items():
        logging.getLogger(f"postel.{pkg}").setLevel(LEVELS[lvl])
    return handler


def trace_line(
    logger: logging.Logger,
    direction: str,
    line: str,
    *,
    secret: bool = False,
    data: bool = False,
) -> None:
    """Log one protocol line at trace level, redacting credentials and data.

    *secret* marks a line carrying credentials (AUTH responses): logged as
    ``***`` unless traceauth is enabled. *data* marks message content: logged
    as ``...`` unless tracedata is enabled.
    """
    if not logger.isEnabledFor(TRACE):
        return
    if data:
        text = line if logger.isEnabledFor(TRACEDATA) else "..."
        level = TRACEDATA if logger.isEnabledFor(TRACEDATA) else TRACE
    elif secret:
        text = line if logger.isEnabledFor(TRACEAUTH) else redact_auth(line)
        level = TRACEAUTH if logger.isEnabledFor(TRACEAUTH) else TRACE
    else:
        text, level = line, TRACE
    logger.log(level, direction + " " + text)


def redact_auth(line: str) -> str:
    """Hide credentials in an SMTP line: ``AUTH PLAIN <b64>`` keeps the mechanism."""
    words = line.split(" ")
    if len(words) >= 2 and words[0].upper() == "AUTH":
        return " ".join(words[:2] + ["***"] * (len(words) > 2))
    return "***"
