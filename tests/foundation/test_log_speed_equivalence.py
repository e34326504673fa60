"""The fast logfmt formatter and fd-writing handler give the former lines, byte for byte."""

from __future__ import annotations

import io
import logging
import os
import re
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postel import log

# ---------------------------------------------------------------------------
# The formatter as it was before the speed-up (commit 498f427), the reference.

_OLD_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_OLD_SKIP = frozenset(_OLD_STANDARD | {"err", "cid"})
_OLD_BARE = re.compile(r"[\w\-./:@+,\[\]*]+")


def _old_escape(ch: str) -> str:
    """One character as the plain version writes it: control characters (C0,
    DEL, C1, U+2028/9, bidi controls, lone surrogates) escaped."""
    code = ord(ch)
    short = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    if ch in short:
        return short[ch]
    if code < 0x20 or 0x7F <= code <= 0x9F:
        return f"\\x{code:02x}"
    if code in (0x200E, 0x200F, 0x2028, 0x2029) or 0x202A <= code <= 0x202E:
        return f"\\u{code:04x}"
    if 0x2066 <= code <= 0x2069 or 0xD800 <= code <= 0xDFFF:
        return f"\\u{code:04x}"
    return ch


def _old_quote(value: str) -> str:
    if _OLD_BARE.fullmatch(value) is not None:
        return value
    return '"' + "".join(_old_escape(ch) for ch in value) + '"'


def _old_format_value(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        value = ",".join(str(v) for v in value)
    return _old_quote(str(value))


def old_format(record: logging.LogRecord, with_time: bool) -> str:
    names = {v: k for k, v in log.LEVELS.items()} | {logging.CRITICAL: "error"}
    parts: list[str] = []
    if with_time:
        t = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        parts.append(f"t={t}.{int(record.msecs):03d}Z")
    parts.append(f"l={names.get(record.levelno, record.levelname.lower())}")
    parts.append(f"m={_old_quote(record.getMessage())}")
    if record.exc_info and record.exc_info[1] is not None:
        parts.append(f"err={_old_quote(str(record.exc_info[1]))}")
        if not record.name.startswith("postel"):  # other libraries: with the traceback
            tb = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            parts.append(f"traceback={_old_quote(tb)}")
    err = record.__dict__.get("err")
    if err is not None:
        parts.append(f"err={_old_format_value(err)}")
    name = record.name
    pkg = name.split(".", 2)[1] if name.startswith("postel.") and "." in name else name
    parts.append(f"pkg={_old_quote(pkg)}")
    for key, value in record.__dict__.items():
        if key in _OLD_SKIP or key[:1] == "_":
            continue
        if key.lower() in log.SECRET_KEYS:
            value = "***"
        parts.append(f"{key}={_old_format_value(value)}")
    cid = record.__dict__.get("cid")
    if cid is None:
        cid = log.cid_var.get()
    if cid is not None:
        parts.append(f"cid={format(cid, 'x') if isinstance(cid, int) else cid}")
    return " ".join(parts)


# ---------------------------------------------------------------------------


text = st.text(
    st.characters() | st.sampled_from([*' "\\\n\r=é€😀\t*,:', "\udc80"]),
    max_size=30,
)
scalar = st.one_of(
    text,
    st.binary(max_size=12),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
)
value = st.one_of(
    scalar,
    st.lists(st.one_of(text, st.integers(), st.booleans()), max_size=4),
    st.tuples(text, st.integers()),
)
plain_key = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True)
secret_key = st.sampled_from(sorted(log.SECRET_KEYS)).flatmap(
    lambda k: st.sampled_from([k, k.upper(), k.capitalize()])
)
key = st.one_of(plain_key, secret_key, st.sampled_from(["cid", "err", "_private", "msgid"]))
extras = st.dictionaries(key.filter(lambda k: k not in _OLD_STANDARD), value, max_size=6)
cid_value = st.one_of(st.none(), st.integers(min_value=0, max_value=2**40), text)
level = st.sampled_from(
    [
        logging.ERROR,
        logging.WARNING,
        logging.INFO,
        logging.DEBUG,
        logging.CRITICAL,
        log.TRACE,
        log.TRACEAUTH,
        log.TRACEDATA,
        15,
        45,
    ]
)
logger_name = st.sampled_from(
    ["postel.smtpserver", "postel.store.account", "postel", "postelx.y", "uvicorn.error", "a b"]
)
created = st.floats(min_value=0, max_value=4e9, allow_nan=False)


def _record(
    name: str,
    lvl: int,
    msg: str,
    args: tuple[Any, ...],
    extra: dict[str, Any],
    exc: BaseException | None,
    when: float,
) -> logging.LogRecord:
    exc_info = (type(exc), exc, None) if exc is not None else None
    record = logging.getLogger(name).makeRecord(
        name, lvl, "(unknown file)", 0, msg, args, exc_info, None, extra
    )
    record.created = when
    record.msecs = int((when - int(when)) * 1000) + 0.0
    return record


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=logger_name,
    lvl=level,
    msg=text,
    extra=extras,
    ctx_cid=cid_value,
    exc_text=st.one_of(st.none(), text),
    when=created,
    with_time=st.booleans(),
)
def test_same_line_as_the_former_formatter(
    name: str,
    lvl: int,
    msg: str,
    extra: dict[str, Any],
    ctx_cid: int | str | None,
    exc_text: str | None,
    when: float,
    with_time: bool,
) -> None:
    exc = ValueError(exc_text) if exc_text is not None else None
    record = _record(name, lvl, msg, (), extra, exc, when)
    formatter = log.LogfmtFormatter(with_time=with_time)
    token = log.cid_var.set(ctx_cid)  # type: ignore[arg-type]
    try:
        assert formatter.format(record) == old_format(record, with_time)
        # and again: the second time comes from the memo tables
        assert formatter.format(record) == old_format(record, with_time)
    finally:
        log.cid_var.reset(token)


@settings(max_examples=100)
@given(times=st.lists(created, min_size=1, max_size=20))
def test_time_stamps_across_seconds(times: list[float]) -> None:
    """The remembered second is used only within the same second."""
    formatter = log.LogfmtFormatter(with_time=True)
    base = times[0]
    for when in sorted([*times, base + 0.001, base + 0.999, base + 1.0, base - 0.0005]):
        record = _record("postel.queue", logging.INFO, "x", (), {}, None, max(when, 0.0))
        assert formatter.format(record) == old_format(record, True)


def test_records_not_in_the_usual_shape() -> None:
    """Records built by makeLogRecord, with attributes removed or added after
    creation, with %-args or a non-str message, are formatted as before."""
    formatter = log.LogfmtFormatter()
    built = logging.makeLogRecord(
        {
            "name": "postel.web",
            "levelno": 20,
            "levelname": "INFO",
            "msg": "m",
            "user": "u",
            "password": "p",
            "_hidden": 1,
        }
    )
    deleted = _record("postel.web", 20, "m", (), {"a": "1", "b": "2"}, None, 1.5)
    del deleted.lineno  # every key shifts one place to the front
    added = _record("postel.web", 20, "m", (), {"a": "1"}, None, 1.5)
    added.message = "set by another formatter"
    added.asctime = "x"
    added.late = "y z"
    args = _record("postel.web", 20, "n=%d s=%s", (3, "a b"), {"k": ["x", 1]}, None, 1.5)
    obj = _record("postel.web", 20, "m", (), {}, None, 1.5)
    obj.msg = ValueError("an exception as message")
    custom_level = _record("postel.web", 33, "m", (), {}, None, 1.5)
    for record in (built, deleted, added, args, obj, custom_level):
        assert formatter.format(record) == old_format(record, False)


def test_subclassed_record_with_attributes_before_the_standard_ones() -> None:
    class Early(logging.LogRecord):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self.early = "first"
            super().__init__(*args, **kwargs)

    record = Early("postel.web", 20, "(unknown file)", 0, "m", (), None)
    record.after = 2
    assert log.LogfmtFormatter().format(record) == old_format(record, False)
    assert "early=first" in log.LogfmtFormatter().format(record)


def test_memo_tables_stay_bounded_and_correct() -> None:
    formatter = log.LogfmtFormatter()
    for i in range(3 * log._MEMO_MAX):
        record = _record("postel.queue", 20, f"m {i}", (), {f"k{i % 5000}": f"v {i}"}, None, 1.0)
        assert formatter.format(record) == old_format(record, False)
    long = "x" * (log._MEMO_LEN + 1)
    record = _record("postel.queue", 20, long, (), {"v": long}, None, 1.0)
    assert formatter.format(record) == old_format(record, False)
    assert long not in log._quoted
    assert len(log._quoted) <= log._MEMO_MAX and len(log._fields) <= log._MEMO_MAX
    assert len(log._prefixes) <= log._MEMO_MAX


# ---------------------------------------------------------------------------
# The handler


def _log_some(logger: logging.Logger) -> None:
    logger.info("delivered", extra={"account": "a", "mailbox": "Inbox", "msgid": 12})
    logger.info('ümlaut "quoted"\nnext', extra={"token": "t0k3n", "v": b"\xff\xfe"})
    logger.info("lone surrogate", extra={"v": "\udc80"})  # a UnicodeEncodeError if strict
    with log.cid_context(255):
        logger.warning("w %s", "arg", extra={"lst": ["a b", 1]})
    try:
        raise OSError("disk full")
    except OSError:
        logger.exception("failed", extra={"err": "extra err"})
    log.trace_line(logger, "C:", "AUTH PLAIN c2VjcmV0", secret=True)
    logging.getLogger("postel.quiet").info("hidden")


@pytest.mark.parametrize(
    "encoding,errors", [("utf-8", "strict"), ("ascii", "backslashreplace"), ("latin-1", "replace")]
)
def test_file_gets_the_bytes_a_stream_handler_wrote(
    tmp_path: Path, encoding: str, errors: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logging, "raiseExceptions", False)
    logger = logging.getLogger("postel.smtpserver")
    with open(tmp_path / "old.log", "a", encoding=encoding, errors=errors) as old_stream:
        old = logging.StreamHandler(old_stream)
        old.setFormatter(logging.Formatter())
        old.format = lambda record: old_format(record, False)  # type: ignore[method-assign]
        log.configure("info", {"smtpserver": "trace", "quiet": "error"}, stream=old_stream)
        root = logging.getLogger("postel")
        root.removeHandler(root.handlers[0])
        root.addHandler(old)
        _log_some(logger)
        root.removeHandler(old)
    with open(tmp_path / "new.log", "a", encoding=encoding, errors=errors) as new_stream:
        handler = log.configure(
            "info", {"smtpserver": "trace", "quiet": "error"}, stream=new_stream
        )
        assert isinstance(handler, log.LogfmtHandler) and handler._fd == new_stream.fileno()
        _log_some(logger)
    new = (tmp_path / "new.log").read_bytes()
    assert new == (tmp_path / "old.log").read_bytes()
    # the lone surrogate is escaped, so even a strict encoder writes every line
    assert new.count(b"\n") == 6 and b"hidden" not in new


def test_string_io_is_written_as_before() -> None:
    stream = io.StringIO()
    handler = log.configure("info", {"smtpserver": "trace", "quiet": "error"}, stream=stream)
    assert isinstance(handler, log.LogfmtHandler) and handler._fd is None
    _log_some(logging.getLogger("postel.smtpserver"))
    lines = stream.getvalue().splitlines()
    assert len(lines) == 6
    assert lines[0] == "l=info m=delivered pkg=smtpserver account=a mailbox=Inbox msgid=12"
    assert lines[2] == 'l=info m="lone surrogate" pkg=smtpserver v="\\udc80"'
    assert lines[3] == 'l=warn m="w arg" pkg=smtpserver lst="a b,1" cid=ff'
    assert lines[4] == 'l=error m=failed err="disk full" err="extra err" pkg=smtpserver'
    assert lines[5] == 'l=trace m="C: AUTH PLAIN ***" pkg=smtpserver'


def test_line_is_in_the_file_at_once(tmp_path: Path) -> None:
    path = tmp_path / "postel.log"
    with open(path, "a", encoding="utf-8") as stream:
        stream.write("before\n")  # unflushed text goes first
        log.configure("info", stream=stream)
        logging.getLogger("postel.queue").info("one")
        # read through another file object, without flush or close
        assert path.read_text() == "before\nl=info m=one pkg=queue\n"


@pytest.mark.logging_failures
def test_closed_stream_is_not_written_through_its_old_fd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logging, "raiseExceptions", False)
    stream = open(tmp_path / "a.log", "a", encoding="utf-8")  # noqa: SIM115
    log.configure("info", stream=stream)
    fd = stream.fileno()
    stream.close()
    other = os.open(tmp_path / "b.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        assert other == fd  # the number is reused
        logging.getLogger("postel.queue").info("lost")
    finally:
        os.close(other)
    assert (tmp_path / "b.log").read_bytes() == b""


def test_handler_filters_still_apply(tmp_path: Path) -> None:
    with open(tmp_path / "f.log", "a", encoding="utf-8") as stream:
        handler = log.configure("info", stream=stream)
        handler.addFilter(lambda record: record.getMessage() != "drop")
        logging.getLogger("postel.queue").info("drop")
        logging.getLogger("postel.queue").info("keep")
    assert (tmp_path / "f.log").read_text() == "l=info m=keep pkg=queue\n"


def test_set_stream_follows_the_new_stream(tmp_path: Path) -> None:
    with open(tmp_path / "1.log", "a") as one, open(tmp_path / "2.log", "a") as two:
        handler = log.configure("info", stream=one)
        assert isinstance(handler, log.LogfmtHandler)
        logging.getLogger("postel.queue").info("first")
        handler.setStream(two)
        logging.getLogger("postel.queue").info("second")
        sio = io.StringIO()
        handler.setStream(sio)
        logging.getLogger("postel.queue").info("third")
    assert (tmp_path / "1.log").read_text() == "l=info m=first pkg=queue\n"
    assert (tmp_path / "2.log").read_text() == "l=info m=second pkg=queue\n"
    assert sio.getvalue() == "l=info m=third pkg=queue\n"


def _hammer(logger: logging.Logger, threads: int, per_thread: int) -> set[str]:
    """Log from several threads at once; the lines expected."""
    expected: set[str] = set()
    start = threading.Barrier(threads)

    def run(n: int) -> None:
        start.wait()
        for i in range(per_thread):
            # sizes up to ~3 KB: several lines fit in no single buffer
            logger.info("line", extra={"t": n, "i": i, "pad": "é" * ((n * 397 + i * 131) % 1500)})

    for n in range(threads):
        for i in range(per_thread):
            pad = "é" * ((n * 397 + i * 131) % 1500)
            expected.add(f"l=info m=line pkg=queue t={n} i={i} pad={_old_quote(pad)}")
    workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    finally:
        sys.setswitchinterval(old)
    return expected


def test_threads_never_interleave_lines_in_a_file(tmp_path: Path) -> None:
    path = tmp_path / "t.log"
    with open(path, "a", encoding="utf-8") as stream:
        handler = log.configure("info", stream=stream)
        assert isinstance(handler, log.LogfmtHandler) and handler._fd is not None
        expected = _hammer(logging.getLogger("postel.queue"), 8, 400)
    lines = path.read_text(encoding="utf-8").split("\n")
    assert lines[-1] == ""
    assert len(lines) - 1 == len(expected) and set(lines[:-1]) == expected


def test_threads_never_interleave_lines_in_a_pipe() -> None:
    r, w = os.pipe()
    received: list[bytes] = []

    def drain() -> None:
        while chunk := os.read(r, 65536):
            received.append(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    stream = open(w, "w", encoding="utf-8")  # noqa: SIM115
    try:
        handler = log.configure("info", stream=stream)
        assert isinstance(handler, log.LogfmtHandler) and handler._fd == w
        expected = _hammer(logging.getLogger("postel.queue"), 8, 300)
    finally:
        logging.getLogger("postel").handlers.clear()
        stream.close()
        reader.join(10)
        os.close(r)
    lines = b"".join(received).decode("utf-8").split("\n")
    assert lines[-1] == ""
    assert len(lines) - 1 == len(expected) and set(lines[:-1]) == expected


def test_foreign_traceback_without_trailing_newlines() -> None:
    """Found by the property above: an exception text ending in newlines gave a
    traceback value ending in an escaped newline."""
    record = _record("uvicorn.error", logging.ERROR, "", (), {}, ValueError("\n"), 0.0)
    line = log.LogfmtFormatter(with_time=False).format(record)
    assert line == old_format(record, False)
    assert 'ValueError: "' in line and '\\n"' not in line.split("traceback=", 1)[1]
