"""No logging call in postel passes an ``extra`` key that is a LogRecord
attribute (issue: debug logging made DANE-TA delivery fail with
KeyError("Attempt to overwrite 'name' in LogRecord")), and a bad call that is
made anyway never breaks the caller."""

from __future__ import annotations

import io
import logging
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from logextras import RESERVED, check_source, check_tree

from postel import log, logsafety

SRC = Path(__file__).resolve().parents[2] / "src" / "postel"


def test_postel_source_has_no_reserved_extra_keys() -> None:
    problems = check_tree(SRC)
    assert problems == [], "\n".join(map(str, problems))


def test_reserved_names_cover_the_issue_list_and_logsafety() -> None:
    issue_list = {
        "name", "msg", "args", "levelname", "module", "filename", "lineno",
        "message", "asctime", "process", "thread", "taskName",
    }  # fmt: skip
    assert issue_list <= RESERVED
    assert RESERVED <= logsafety.RESERVED_EXTRA


PLANTED = {
    "literal": 'log.debug("x", extra={"tlsa": t, "name": n})',
    "dict call": 'log.info("x", extra=dict(module=m))',
    "unpacked": 'base = {"lineno": 1}\nlog.warning("x", extra={**base, "a": 1})',
    "variable subscript": 'f = {}\nf["process"] = 1\nlog.error("x", extra=f)',
    "update": 'f = {"a": 1}\nf.update(args=2)\nlog.info("x", extra=f)',
    "setdefault": 'f = {}\nf.setdefault("thread", 2)\nlog.info("x", extra=f)',
    "union": 'log.info("x", extra={"a": 1} | {"msg": 2})',
    "augmented": 'f = {"a": 1}\nf |= {"asctime": 2}\nlog.info("x", extra=f)',
    "conditional": 'log.info("x", extra={"a": 1} if c else {"levelname": 2})',
    "log()": 'log.log(5, "x", extra={"filename": 1})',
    "helper function": (
        'def fields():\n    return {"taskName": 1}\ndef f():\n    log.info("x", extra=fields())'
    ),
    "method": (
        "class S:\n"
        '    def _e(self):\n        return {"message": 1}\n'
        '    def f(self):\n        log.debug("x", extra=self._e())'
    ),
    "module-level variable": 'EXTRA = {"name": 1}\ndef f():\n    log.info("x", extra=EXTRA)',
}


@pytest.mark.parametrize("source", PLANTED.values(), ids=PLANTED.keys())
def test_a_planted_reserved_key_is_found(source: str) -> None:
    problems = check_source(source)
    assert len(problems) == 1 and "LogRecord attributes" in problems[0].text, problems


UNCHECKABLE = {
    "computed key": 'log.info("x", extra={k: 1})',
    "parameter": 'def f(e):\n    log.info("x", extra=e)',
    "foreign call": 'log.info("x", extra=other.build())',
    "unassigned name": 'log.info("x", extra=nowhere)',
}


@pytest.mark.parametrize("source", UNCHECKABLE.values(), ids=UNCHECKABLE.keys())
def test_an_extra_that_cannot_be_followed_is_reported(source: str) -> None:
    problems = check_source(source)
    assert len(problems) == 1 and "not checkable" in problems[0].text, problems


def test_good_extras_pass() -> None:
    source = (
        'base = {"cid": 1}\n'
        "class S:\n"
        '    def _e(self):\n        return {"version": "", "cipher": ""}\n'
        "    def f(self):\n"
        '        log.debug("x", extra=self._e())\n'
        '        log.info("x", extra={**base, "cert_name": n, "err": e})\n'
        '        log.info("x", extra=dict(qname=q))\n'
        '        log.info("x")\n'
        "ConfigDict(extra='forbid')\n"
    )
    assert check_source(source) == []


@pytest.mark.logging_failures
def test_a_reserved_key_at_runtime_is_logged_renamed_and_reported_once(
    capfd: pytest.CaptureFixture[str],
) -> None:
    out = io.StringIO()
    log.configure("debug", stream=out)
    logger = logging.getLogger("postel.dane")
    for _ in range(3):
        logger.debug("dane-ta record matched", extra={"tlsa": "2 1 1 ab", "name": "mx.example"})
    lines = out.getvalue().splitlines()
    assert (
        lines
        == ['l=debug m="dane-ta record matched" pkg=dane tlsa="2 1 1 ab" name_=mx.example'] * 3
    )
    assert logsafety.failure_count() == 3
    err = capfd.readouterr().err
    assert err.count("postel: logging failed: extra key name is a LogRecord attribute") == 1
    assert "test_log_extras.py" in err


@pytest.mark.logging_failures
def test_a_failing_handler_does_not_raise_and_is_reported_once(
    capfd: pytest.CaptureFixture[str],
) -> None:
    stream = io.StringIO()
    log.configure("debug", stream=stream)
    logger = logging.getLogger("postel.delivery")
    logger.info("%s and %s", "only one")  # a bad format
    stream.close()  # a closed stream
    logger.info("after close")
    logger.info("after close")
    assert logsafety.failure_count() == 3
    err = capfd.readouterr().err
    assert "TypeError: not enough arguments" in err
    assert err.count("after close") == 1
    assert "Traceback" not in err


@pytest.mark.logging_failures
def test_a_full_disk_does_not_raise(capfd: pytest.CaptureFixture[str]) -> None:
    full = Path("/dev/full")
    if not full.exists():
        pytest.fail("/dev/full is missing on this machine")
    with full.open("w") as stream:
        log.configure("info", stream=stream)
        logging.getLogger("postel.smtpserver").info("message to a full disk")
    assert logsafety.failure_count() == 1
    assert "No space left on device" in capfd.readouterr().err


def test_control_characters_are_escaped_in_every_value() -> None:
    out = io.StringIO()
    log.configure("debug", stream=out)
    user = "bob\x1b[2J\x1b[31mroot\u2028l=info m=forged\x85\u202e\x00\t"
    logging.getLogger("postel.smtpserver").info("auth \x1b failed", extra={"user": user})
    [line] = out.getvalue().splitlines()
    assert line == (
        'l=info m="auth \\x1b failed" pkg=smtpserver '
        'user="bob\\x1b[2J\\x1b[31mroot\\u2028l=info m=forged\\x85\\u202e\\x00\\t"'
    )
    assert all(ch.isprintable() for ch in line)


def test_library_warnings_are_logfmt_with_cid_and_traceback() -> None:
    """uvicorn's and asyncio's warnings and errors went to logging's last-resort
    handler as plain text (a multi-line traceback for a failing web request)."""
    out = io.StringIO()
    log.configure("info", stream=out)
    with log.cid_context(0x2A):
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
        logging.getLogger("asyncio").warning("Task was destroyed")
        logging.getLogger("uvicorn.error").info("Started server process")  # below warning
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith('l=error m="Exception in ASGI application" err=boom traceback=')
    assert "RuntimeError: boom" in lines[0] and lines[0].endswith("pkg=uvicorn.error cid=2a")
    assert lines[1] == 'l=warn m="Task was destroyed" pkg=asyncio cid=2a'


def test_psycopg_warnings_are_logfmt_and_its_pool_reconnect_attempts_quiet() -> None:
    """psycopg's warnings went to the last-resort handler as plain text of
    several lines; its pool warns at every reconnection attempt while the
    database is down (postel logs such an outage once itself)."""
    out = io.StringIO()
    log.configure("info", stream=out)
    logging.getLogger("psycopg").warning("error resetting connection: %s", "gone\n\thint")
    logging.getLogger("psycopg.pool").warning("error connecting in %r: %s", "db", "refused")
    logging.getLogger("psycopg.pool").error("pool failed")
    lines = out.getvalue().splitlines()
    assert lines == [
        'l=warn m="error resetting connection: gone\\n\\thint" pkg=psycopg',
        'l=error m="pool failed" pkg=psycopg.pool',
    ]
