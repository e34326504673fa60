"""IMAP in the metrics: connections by protocol (imap,
imaps), command durations by command and tagged result, logins by result
with the login limiter's refusals as ratelimited."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from imap_env import PASSWORD, Env, raw_plain, raw_tls, run

from metricsamples import scrape, value
from postel.imapserver.session import STATES
from postel.metrics import labels


def test_every_command_has_its_own_label() -> None:
    assert [n for n in STATES if labels.imap_command(n) != n] == []


async def test_connections_commands_and_logins(metrics_dir: Path, env: Env) -> None:
    def client() -> None:
        r = raw_tls(env, login=False)
        assert r.cmd(b"a LOGIN alice wrong")[-1].startswith(b"a NO [AUTHENTICATIONFAILED]")
        assert r.cmd(b"b LOGIN alice wrong")[-1].startswith(b"b NO [AUTHENTICATIONFAILED]")
        assert r.cmd(b"c LOGIN alice wrong")[-1].startswith(b"c NO [UNAVAILABLE]")
        r.close()
        r = raw_tls(env, login=False)
        assert r.cmd(b'd LOGIN bob "' + PASSWORD.encode() + b'"')[-1].startswith(b"d OK")
        assert r.cmd(b"e SELECT INBOX")[-1].startswith(b"e OK")
        assert r.cmd(b"f UID FETCH 1:* FLAGS")[-1].startswith(b"f OK")
        assert r.cmd(b"g SELECT Nowhere")[-1].startswith(b"g NO")
        assert r.cmd(b"h FROBNICATE")[-1].startswith(b"h BAD")
        assert r.cmd(b"i FETCH 1 (FLAGS")[-1].startswith(b"i BAD")
        assert r.cmd(b"j LOGOUT")[-1].startswith(b"j OK")
        r.close()
        p = raw_plain(env)
        assert p.cmd(b"k CAPABILITY")[-1].startswith(b"k OK")
        p.close()

    await run(client)
    deadline = time.monotonic() + 5
    while True:  # the server notices the last close on its own time
        found = scrape(metrics_dir)
        if value(found, "postel_connections_open", protocol="imap") == 0 or (
            time.monotonic() > deadline
        ):
            break
        await asyncio.sleep(0.05)
    assert value(found, "postel_connections_total", protocol="imaps") == 2
    assert value(found, "postel_connections_total", protocol="imap") == 1
    assert value(found, "postel_connections_open", protocol="imaps") == 0
    assert value(found, "postel_connections_open", protocol="imap") == 0
    for result, n in (("failure", 2), ("ratelimited", 1), ("success", 1)):
        got = value(found, "postel_authentications_total", protocol="imaps", result=result)
        assert got == n, result

    def commands(command: str, result: str, protocol: str = "imaps") -> float:
        return value(
            found,
            "postel_command_duration_seconds_count",
            protocol=protocol,
            command=command,
            result=result,
        )

    assert commands("LOGIN", "NO") == 3
    assert commands("LOGIN", "OK") == 1
    assert commands("SELECT", "OK") == 1
    assert commands("SELECT", "NO") == 1
    assert commands("UID FETCH", "OK") == 1
    # FROBNICATE (no time series per invented name) and a FETCH that does not parse.
    assert commands("other", "BAD") == 2
    assert commands("LOGOUT", "OK") == 1
    assert commands("CAPABILITY", "OK", "imap") == 1
