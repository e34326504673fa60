"""The session deadline ([limits] connection_timeout) holds in every phase: a
client that keeps sending a little data in time for each read (command_timeout)
is still cut off when the whole session's time is up, with 421, and a message
whose DATA was cut off is not delivered. Real loopback connections to a running
SMTPService."""

from __future__ import annotations

import socket
import time

from smtpserver_env import Env, run

CONNECTION_TIMEOUT = 2.5
# Longer than the session: only the session deadline can end these sessions.
COMMAND_TIMEOUT = 2.0
DRIBBLE = 0.25  # seconds between two 2-byte sends: well within COMMAND_TIMEOUT
GIVE_UP = 8.0  # the test stops dribbling by itself after this long


def _start_data(s: socket.socket) -> None:
    f = s.makefile("rb")
    for send in (
        None,
        b"EHLO client.sender.test\r\n",
        b"MAIL FROM:<someone@sender.test>\r\n",
        b"RCPT TO:<alice@example.org>\r\n",
        b"DATA\r\n",
    ):
        if send is not None:
            s.sendall(send)
        while (line := f.readline())[3:4] == b"-":
            pass
        assert line[:1] in (b"2", b"3"), line


def dribble_data(port: int) -> tuple[bytes, float]:
    """Start DATA, then send 2 bytes every DRIBBLE seconds; when the server closes
    (or after GIVE_UP), send the end of data. Returns what the server sent after
    354 and the seconds from connecting until it closed."""
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        _start_data(s)
        s.settimeout(DRIBBLE)
        got = b""
        body = b"Subject: slow\r\n\r\n" + b"ab" * 1000
        closed_at = None
        for i in range(0, len(body), 2):
            if time.monotonic() - start > GIVE_UP:
                break
            try:
                s.sendall(body[i : i + 2])
                chunk = s.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                closed_at = time.monotonic()
                break
            got += chunk
            if not chunk or b"421" in got:
                closed_at = time.monotonic()
                break
        try:
            s.sendall(b"\r\n.\r\nQUIT\r\n")
            s.settimeout(2)
            while chunk := s.recv(4096):
                got += chunk
        except OSError:
            pass
        return got, (closed_at or time.monotonic()) - start


async def test_data_dribble_cut_off_at_the_session_deadline(env: Env) -> None:
    limits = env.cfg.static.limits
    limits.connection_timeout = CONNECTION_TIMEOUT
    limits.command_timeout = COMMAND_TIMEOUT
    got, took = await run(lambda: dribble_data(env.ports["smtp"]))
    assert got.startswith(b"421 4.4.2 "), got
    assert b"250" not in got
    assert CONNECTION_TIMEOUT - 0.5 < took < CONNECTION_TIMEOUT + 1.0, took
    assert env.messages("alice") == []


def stalled_tls(port: int) -> tuple[bytes, float]:
    """STARTTLS, then never send a ClientHello: the handshake waits."""
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        f = s.makefile("rb")
        f.readline()
        s.sendall(b"EHLO client.sender.test\r\n")
        while f.readline()[3:4] == b"-":
            pass
        s.sendall(b"STARTTLS\r\n")
        ready = f.readline()
        assert ready.startswith(b"220"), ready
        s.settimeout(GIVE_UP)
        try:
            rest = s.recv(4096)
        except OSError:
            rest = b"(timeout)"
        return rest, time.monotonic() - start


async def test_tls_handshake_bounded_by_the_session_deadline(env: Env) -> None:
    limits = env.cfg.static.limits
    limits.connection_timeout = CONNECTION_TIMEOUT
    limits.command_timeout = COMMAND_TIMEOUT
    rest, took = await run(lambda: stalled_tls(env.ports["smtp"]))
    assert rest == b"", rest  # closed
    assert took < CONNECTION_TIMEOUT + 1.0, took
