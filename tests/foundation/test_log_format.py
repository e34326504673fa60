"""logfmt output, trace levels, cid and redaction."""

from __future__ import annotations

import io
import logging
import re

import pytest

from postel import log


@pytest.fixture
def stream() -> io.StringIO:
    s = io.StringIO()
    log.configure("info", {"smtpserver": "trace"}, stream=s)
    return s


def test_logfmt_line(stream: io.StringIO) -> None:
    logging.getLogger("postel.queue").info("delivered", extra={"rcpt": "a@b.example", "n": 3})
    assert stream.getvalue().strip() == "l=info m=delivered pkg=queue rcpt=a@b.example n=3"


def test_quoting_and_error(stream: io.StringIO) -> None:
    try:
        raise ValueError('bad "thing"')
    except ValueError:
        logging.getLogger("postel.dns").exception("lookup failed", extra={"qname": "x y"})
    line = stream.getvalue().splitlines()[0]
    assert line.startswith('l=error m="lookup failed" err="bad \\"thing\\"" pkg=dns qname="x y"')


def test_cid_from_context_in_hex(stream: io.StringIO) -> None:
    with log.cid_context(255):
        logging.getLogger("postel.smtpserver").info("hello")
    assert stream.getvalue().strip().endswith("cid=ff")


def test_cids_are_unique() -> None:
    assert len({log.new_cid() for _ in range(1000)}) == 1000


def test_secret_keys_never_logged(stream: io.StringIO) -> None:
    logging.getLogger("postel.web").info("login", extra={"password": "hunter2", "user": "a"})
    out = stream.getvalue()
    assert "hunter2" not in out and "password=***" in out


def test_per_package_levels(stream: io.StringIO) -> None:
    logging.getLogger("postel.queue").debug("hidden")
    logging.getLogger("postel.smtpserver").log(log.TRACE, "shown")
    out = stream.getvalue()
    assert "hidden" not in out and "l=trace m=shown pkg=smtpserver" in out


def test_trace_redacts_auth_and_data(stream: io.StringIO) -> None:
    logger = logging.getLogger("postel.smtpserver")
    log.trace_line(logger, "C:", "AUTH PLAIN AGFsaWNlAHNlY3JldA==", secret=True)
    log.trace_line(logger, "C:", "Subject: private", data=True)
    log.trace_line(logger, "S:", "250 ok")
    out = stream.getvalue()
    assert "AGFsaWNlAHNlY3JldA" not in out and 'm="C: AUTH PLAIN ***"' in out
    assert "private" not in out and 'm="C: ..."' in out
    assert 'm="S: 250 ok"' in out


def test_traceauth_and_tracedata_show_everything() -> None:
    s = io.StringIO()
    log.configure("info", {"smtpserver": "tracedata"}, stream=s)
    logger = logging.getLogger("postel.smtpserver")
    log.trace_line(logger, "C:", "AUTH PLAIN AGFsaWNlAHNlY3JldA==", secret=True)
    log.trace_line(logger, "C:", "Subject: private", data=True)
    out = s.getvalue()
    assert "l=traceauth" in out and "AGFsaWNlAHNlY3JldA==" in out
    assert "l=tracedata" in out and "Subject: private" in out


def test_trace_off_logs_nothing(stream: io.StringIO) -> None:
    log.trace_line(logging.getLogger("postel.queue"), "S:", "250 ok")
    assert stream.getvalue() == ""


def test_time_prefix() -> None:
    s = io.StringIO()
    log.configure("info", stream=s, with_time=True)
    logging.getLogger("postel.queue").info("x", extra={"n": 1})
    stamp = r"t=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
    assert re.fullmatch(stamp + r" l=info m=x pkg=queue n=1\n", s.getvalue())


def test_configure_skips_caller_and_thread_lookups() -> None:
    """The formatter needs no caller, thread or process: not collected."""
    log.configure("info", stream=io.StringIO())
    assert logging._srcfile is None  # type: ignore[attr-defined]
    assert not (logging.logThreads or logging.logProcesses or logging.logMultiprocessing)


def test_configure_in_an_earlier_test_does_not_leak() -> None:
    # The tests above call configure(); tests/conftest.py restores the process-wide
    # logging settings after each test, so records again carry their caller.
    assert logging.logThreads and logging._srcfile is not None
    record = logging.getLogger("postel.test").makeRecord(
        "postel.test", logging.INFO, __file__, 1, "m", (), None
    )
    assert record.thread is not None
    assert logging.getLogger("postel").propagate
