"""A failure inside logging never aborts an SMTP session:
a logging call with a reserved extra key, and a log stream on a full disk,
while mail is received at the most verbose level."""

from __future__ import annotations

from pathlib import Path

import pytest
from smtpserver_env import Env, run

from postel import log, logsafety
from postel.smtpserver.session import Session

MSG = b"From: <someone@sender.test>\r\nTo: <bob@example.org>\r\nSubject: hi\r\n\r\nHello.\r\n"


def _send(env: Env) -> tuple[int, bytes]:
    with env.smtp() as c:
        c.starttls(context=env.client_context())
        c.ehlo()
        c.mail("someone@sender.test")
        c.rcpt("bob@example.org")
        return c.data(MSG)


@pytest.mark.logging_failures
async def test_reserved_extra_key_does_not_abort_the_session(
    env: Env, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # "tls started" is logged at debug with these extras: a planted bad call
    monkeypatch.setattr(Session, "_tls_extra", lambda self: {"name": "x", "module": "y"})
    with (tmp_path / "log").open("w") as stream:
        log.configure("tracedata", stream=stream)
        code, text = await run(lambda: _send(env))
    assert code == 250, text
    assert len(env.messages("bob")) == 1
    assert logsafety.failure_count() >= 1
    assert (
        'l=debug m="tls started" pkg=smtpserver name_=x module_=y' in (tmp_path / "log").read_text()
    )


@pytest.mark.logging_failures
async def test_full_disk_under_the_log_does_not_abort_the_session(
    env: Env, capfd: pytest.CaptureFixture[str]
) -> None:
    with Path("/dev/full").open("w") as stream:
        log.configure("tracedata", stream=stream)
        code, text = await run(lambda: _send(env))
    assert code == 250, text
    assert len(env.messages("bob")) == 1
    assert logsafety.failure_count() > 10  # every line failed, and was counted
    err = capfd.readouterr().err
    assert "No space left on device" in err and "Traceback" not in err
