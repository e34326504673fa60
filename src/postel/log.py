"""Structured logging: logfmt lines, trace levels, connection ids, redaction.

A line looks like ``l=info m="message" err=... pkg=smtpserver key=value cid=1a``
(docs/logging.md). Levels below debug: trace (protocol
lines), traceauth (protocol lines with credentials), tracedata (message data).
Protocol traces are logged with :func:`trace_line`, which redacts passwords as
``***`` and message data as ``...`` unless the more verbose level is enabled.
"""

from __future__ import annotations

import contextvars
import itertools
import logging
import os
import re
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TextIO

from postel import logsafety

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
_SKIP = frozenset(logsafety.RESERVED_EXTRA | {"err", "cid"})
# LogRecord.__init__ sets these attributes, always in this order; the extras
# (makeRecord) come after them, so a record whose keys start with exactly this
# list needs only its remaining keys looked at.
_INIT_KEYS = list(vars(logging.LogRecord("", 0, "", 0, "", None, None)))
_N_INIT = len(_INIT_KEYS)


# \w is exactly str.isalnum() plus "_" (both Py_UNICODE_ISALNUM): one regex
# match instead of a Python-level loop per character.
_BARE = re.compile(r"[\w\-./:@+,\[\]*]+")


# Characters that could forge or hide a log line on a terminal or in a log
# viewer: C0 controls and DEL, C1 controls (ESC sequences, NEL), the Unicode
# line and paragraph separators, and the bidirectional controls; and lone
# surrogates (undecodable input), which no strict encoder can write.
_CONTROL = re.compile(
    "[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_control(match: re.Match[str]) -> str:
    char = match.group()
    short = _SHORT_ESCAPES.get(char)
    if short is not None:
        return short
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _quote(value: str) -> str:
    if _BARE.fullmatch(value) is not None:
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    if _CONTROL.search(escaped) is not None:
        escaped = _CONTROL.sub(_escape_control, escaped)
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

# Memo tables of the formatter (messages, keys, values and logger names
# repeat): plain dicts of short strings, emptied when full (bounded size).
_MEMO_MAX = 4096
_MEMO_LEN = 120  # longer strings are not remembered
_quoted: dict[str, str] = {}  # str -> _quote(str)
_fields: dict[tuple[str, str], str] = {}  # (key, str value) -> "key=value" (not secret)
_prefixes: dict[str, str] = {}  # key -> "key=" (a key logged with its value)
_pkgs: dict[str, str] = {}  # logger name -> "pkg=..."
_heads = {num: f"l={name} m=" for num, name in _NAMES.items()}
_millis = [f".{ms:03d}Z" for ms in range(1000)]


def _remember(memo: dict[Any, str], key: Any, value: str) -> str:
    if len(memo) >= _MEMO_MAX:
        memo.clear()
    memo[key] = value
    return value


def _quote_str(value: str) -> str:
    """:func:`_quote` of a str, memoised."""
    quoted = _quoted.get(value)
    if quoted is None:
        quoted = _quote(value)
        if len(value) <= _MEMO_LEN:
            _remember(_quoted, value, quoted)
    return quoted


def _pkg(name: str) -> str:
    pkg = name.split(".", 2)[1] if name.startswith("postel.") and "." in name else name
    return _remember(_pkgs, name, f"pkg={_quote(pkg)}")


class LogfmtFormatter(logging.Formatter):
    """Formats records as logfmt; keys named like secrets are never printed."""

    def __init__(self, with_time: bool = False) -> None:
        super().__init__()
        self.with_time = with_time
        # (whole seconds, "t=YYYY-mm-ddTHH:MM:SS") of the last record, one
        # tuple so that threads never see one half of an update.
        self._second: tuple[float | None, str] = (None, "")

    def format(self, record: logging.LogRecord) -> str:
        # Same line as the plain version (see tests): the dict lookups of
        # the memo tables are inlined, they are most of the cost.
        d = record.__dict__
        head = _heads.get(record.levelno)
        if head is None:
            head = f"l={record.levelname.lower()} m="
        msg = record.getMessage()
        quoted = _quoted.get(msg)
        if quoted is None:
            quoted = _quote_str(msg)
        if self.with_time:
            created = record.created
            second = created // 1
            cached = self._second
            if cached[0] == second:
                stamp = cached[1]
            else:
                stamp = "t=" + time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
                self._second = (second, stamp)
            ms = int(record.msecs)
            stamp += _millis[ms] if 0 <= ms < 1000 else f".{ms:03d}Z"
            parts = [stamp, head + quoted]
        else:
            parts = [head + quoted]
        exc_info = record.exc_info
        if exc_info and exc_info[1] is not None:
            parts.append(f"err={_quote(str(exc_info[1]))}")
            if not record.name.startswith("postel"):
                # Another library's error (uvicorn, asyncio): its traceback is
                # all there is to find the bug by, on the same line.
                # No trailing newlines (an exception text may end in some).
                tb = self.formatException(exc_info).rstrip("\n")
                parts.append(f"traceback={_quote(tb)}")
        err = d.get("err")
        if err is not None:
            parts.append(f"err={_format_value(err)}")
        name = record.name
        pkg = _pkgs.get(name)
        parts.append(pkg if pkg is not None else _pkg(name))
        keys = list(d)
        if keys[:_N_INIT] == _INIT_KEYS:
            del keys[:_N_INIT]
        for key in keys:
            value = d[key]
            if type(value) is str:
                field = _fields.get((key, value))  # only keys logged with their value
                if field is not None:
                    parts.append(field)
                    continue
            prefix = _prefixes.get(key)
            if prefix is None:
                if key in _SKIP or key[:1] == "_":
                    continue
                if key.lower() in SECRET_KEYS:
                    parts.append(key + "=***")
                    continue
                prefix = _remember(_prefixes, key, key + "=")
            kind = type(value)
            if kind is str:
                field = prefix + _quote_str(value)
                if len(value) <= _MEMO_LEN:
                    _remember(_fields, (key, value), field)
                parts.append(field)
            elif kind is int:  # digits and "-": never quoted
                parts.append(prefix + str(value))
            else:
                parts.append(prefix + _format_value(value))
        cid = d.get("cid")
        if cid is None:
            cid = cid_var.get()
        if cid is not None:
            parts.append(f"cid={cid:x}" if isinstance(cid, int) else f"cid={cid}")
        return " ".join(parts)


class LogfmtHandler(logging.StreamHandler[TextIO]):
    """A StreamHandler that writes each line with one ``os.write`` to the
    stream's file descriptor, when it has one (a file, pipe or terminal).

    One write per line: the line is in the kernel at once (nothing buffered
    that a kill would lose), and lines of several processes sharing the fd do
    not mix (a write below PIPE_BUF to a pipe, or to an O_APPEND file, is
    atomic). The handler's lock keeps the lines of several threads apart. The
    bytes are those the stream would have written (its encoding and errors).
    Other streams (io.StringIO, ...) are written as by StreamHandler.
    """

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self._fd: int | None = None
        self._encoding = "utf-8"
        self._errors = "strict"
        self._use_fd(stream)

    def _use_fd(self, stream: TextIO) -> None:
        self._fd = None
        try:
            fd = stream.fileno()
            encoding = stream.encoding
            errors = stream.errors or "strict"
            # a stateful or wide codec (BOM, UTF-16) cannot be used per line
            if "\n".encode(encoding, errors) != b"\n" or not isinstance(fd, int):
                return
            stream.flush()  # what was written through it comes first
        except (AttributeError, OSError, ValueError, LookupError, TypeError):
            return  # io.UnsupportedOperation is an OSError and a ValueError
        self._fd, self._encoding, self._errors = fd, encoding, errors

    def setStream(self, stream: TextIO) -> TextIO | None:
        old: TextIO | None = super().setStream(stream)
        if old is not None:
            self._use_fd(stream)
        return old

    def handle(self, record: logging.LogRecord) -> bool:
        if self._fd is None or self.filters or self.stream.closed:
            return bool(super().handle(record))  # (which calls emit)
        self._write_line(self._fd, record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        # closed: its fd number may be another file's now
        if self._fd is None or self.stream.closed:
            super().emit(record)
        else:
            self._write_line(self._fd, record)

    def _write_line(self, fd: int, record: logging.LogRecord) -> None:
        """Format (outside the lock: the formatter keeps no state between
        records), then write with the lock held."""
        try:
            formatter = self.formatter or logging.Formatter()
            data = (formatter.format(record) + self.terminator).encode(self._encoding, self._errors)
            lock = self.lock
            assert lock is not None
            lock.acquire()  # cheaper than "with" on 3.11
            try:
                written = os.write(fd, data)
                while written < len(data):  # rare: a signal, a full pipe
                    data = data[written:]
                    written = os.write(fd, data)
            finally:
                lock.release()
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    def handleError(self, record: logging.LogRecord) -> None:
        """Counted and reported once on stderr (postel.logsafety), not a
        traceback per failure; the caller goes on either way."""
        logsafety.note_handler_failure(record)


FOREIGN_LOGGERS = ("uvicorn", "asyncio", "psycopg")
# Foreign loggers kept quieter than warnings: psycopg_pool warns at each of
# its reconnection attempts while a database is down (plain text, several
# lines); postel logs such an outage once itself (postel.pg).
QUIET_LOGGERS = {"psycopg.pool": logging.ERROR}


def configure(
    level: str = "info",
    packages: Mapping[str, str] | None = None,
    stream: TextIO | None = None,
    with_time: bool = False,
) -> logging.Handler:
    """Install the logfmt handler on the ``postel`` logger with per-package levels.

    The formatter uses neither the caller's file/line/function nor the
    thread and process fields of a record, so their collection is switched off
    for the process (logging HOWTO, "Optimization"; about 1 µs a record).
    """
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    root = logging.getLogger("postel")
    for handler in list(root.handlers):
        if getattr(handler, "_postel", False):
            root.removeHandler(handler)
    handler = LogfmtHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(LogfmtFormatter(with_time=with_time))
    handler._postel = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.propagate = False
    root.setLevel(LEVELS[level])
    for pkg, lvl in (packages or {}).items():
        logging.getLogger(f"postel.{pkg}").setLevel(LEVELS[lvl])
    # Warnings and errors of the libraries postel runs (the web server, the
    # event loop) go to the same log as logfmt, with the cid, instead of
    # plain text from logging's last-resort handler.
    for name in FOREIGN_LOGGERS:
        foreign = logging.getLogger(name)
        for old in list(foreign.handlers):
            if getattr(old, "_postel", False):
                foreign.removeHandler(old)
        foreign.addHandler(handler)
        foreign.propagate = False
        if foreign.level == logging.NOTSET:
            foreign.setLevel(logging.WARNING)
    for name, quiet_level in QUIET_LOGGERS.items():
        quiet = logging.getLogger(name)
        if quiet.level == logging.NOTSET:
            quiet.setLevel(quiet_level)
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
