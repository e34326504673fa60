"""SMTP smuggling (the CVE-2023-51764 class) against a running SMTPService on
127.0.0.1: only <CRLF>.<CRLF> ends DATA (RFC 5321 §4.1.1.4), a message with a
bare CR, bare LF or NUL is refused (RFC 5321 §2.3.8, RFC 2045 §2.8) and nothing
inside one DATA ever runs as a command; command lines must end in CRLF.

The end-of-data variants are those of the published research (SEC Consult,
"SMTP Smuggling", 2023, and its tools): each is sent followed by a second,
forged transaction, then the real <CRLF>.<CRLF> and QUIT.
"""

from __future__ import annotations

import io
import socket

import pytest
from smtpserver_env import Env, run

# What a lenient receiver might take for the end of DATA.
VARIANTS = [
    b"\n.\n",
    b"\n.\r\n",
    b"\r\n.\n",
    b"\r.\r",
    b"\r\n.\r",
    b"\r.\r\n",
    b"\n.\r",
    b"\r.\n",
    b"\r\n\x00.\r\n",
    b"\r\n.\x00\r\n",
    b"\r\n.\r\r\n",
    b"\r\r\n.\r\r\n",
]

FIRST = b"From: someone@sender.test\r\nTo: alice@example.org\r\nSubject: first\r\n\r\nbody"
SMUGGLED = (
    b"MAIL FROM:<admin@example.org>\r\n"
    b"RCPT TO:<alice@example.org>\r\n"
    b"DATA\r\n"
    b"From: admin@example.org\r\nTo: alice@example.org\r\nSubject: smuggled\r\n\r\n"
    b"forged\r\n"
)


def _replies(f: io.BufferedReader, n: int | None = None) -> list[bytes]:
    """Reply lines (last line of each reply) until *n* replies or EOF."""
    out: list[bytes] = []
    while n is None or len(out) < n:
        try:
            line = f.readline()
        except OSError:
            break
        if not line:
            break
        if line[3:4] != b"-":
            out.append(line)
    return out


def transaction(port: int, payload: bytes) -> tuple[list[bytes], list[bytes]]:
    """EHLO, MAIL, RCPT, DATA (replies before the data), then *payload* and QUIT
    (every reply until the server closes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        f = s.makefile("rb")
        before = _replies(f, 1)
        s.sendall(b"EHLO client.sender.test\r\n")
        before += _replies(f, 1)
        s.sendall(b"MAIL FROM:<someone@sender.test>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n")
        before += _replies(f, 3)
        s.sendall(payload + b"QUIT\r\n")
        return before, _replies(f)


def codes(lines: list[bytes]) -> list[bytes]:
    return [line[:3] for line in lines]


@pytest.mark.parametrize("variant", VARIANTS, ids=repr)
async def test_no_second_message_from_one_data(env: Env, variant: bytes) -> None:
    payload = FIRST + variant + SMUGGLED + b"\r\n.\r\n"
    before, after = await run(lambda: transaction(env.ports["smtp"], payload))
    assert codes(before) == [b"220", b"250", b"250", b"250", b"354"]
    # One DATA, one reply: the message is refused whole, then QUIT.
    assert codes(after) == [b"550", b"221"], after
    assert after[0].startswith(b"550 5.5.2 "), after[0]
    # Nothing stored: neither the first message (it has a bare CR/LF/NUL) nor the
    # forged one.
    assert env.messages("alice") == []


@pytest.mark.parametrize("variant", VARIANTS, ids=repr)
async def test_variant_without_real_end_never_ends_data(env: Env, variant: bytes) -> None:
    """The variant alone ends nothing: the server still waits for <CRLF>.<CRLF>
    (and answers nothing, in particular not the smuggled commands)."""
    env.cfg.static.limits.command_timeout = 0.5

    def go() -> list[bytes]:
        with socket.create_connection(("127.0.0.1", env.ports["smtp"]), timeout=5) as s:
            f = s.makefile("rb")
            _replies(f, 1)
            s.sendall(b"EHLO client.sender.test\r\n")
            _replies(f, 1)
            s.sendall(b"MAIL FROM:<someone@sender.test>\r\nRCPT TO:<alice@example.org>\r\n")
            _replies(f, 2)
            s.sendall(b"DATA\r\n")
            _replies(f, 1)
            s.sendall(FIRST + variant + SMUGGLED)
            return _replies(f)  # until the server gives up and closes

    after = await run(go)
    assert codes(after) == [b"421"], after
    assert env.messages("alice") == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"Subject: x\r\n\r\nline one\nline two", b"bare <LF>"),
        (b"Subject: x\r\n\r\nline one\rline two", b"bare <CR>"),
        (b"Subject: x\r\n\r\nline\x00two", b"NUL"),
        (b"Subject: x\r\n\r\n.\n", b"bare <LF>"),  # a dot line ended by a bare LF
        (b"\nSubject: x", b"bare <LF>"),  # at the very start of DATA
        (b"\rSubject: x", b"bare <CR>"),
        (b"\x00Subject: x", b"NUL"),
        (b"..\r", b"bare <CR>"),  # a dot-stuffed line at the start of DATA
        (b"Subject: x\r\n\r\n..\r\r\nend", b"bare <CR>"),  # after a dot-stuffed start
    ],
)
async def test_bare_line_ends_and_nul_refused(env: Env, body: bytes, reason: bytes) -> None:
    payload = body + b"\r\n.\r\n"
    _, after = await run(lambda: transaction(env.ports["smtp"], payload))
    assert codes(after) == [b"550", b"221"], after
    assert reason in after[0], after[0]
    assert env.messages("alice") == []


async def test_refusal_keeps_the_session_usable(env: Env) -> None:
    """After a refused message the session is in sync: the next one is delivered."""
    second = (
        b"MAIL FROM:<someone@sender.test>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n"
        b"Subject: second\r\n\r\nfine\r\n.\r\n"
    )
    payload = b"Subject: x\r\n\r\nbad\nline\r\n.\r\n" + second
    _, after = await run(lambda: transaction(env.ports["smtp"], payload))
    assert codes(after) == [b"550", b"250", b"250", b"354", b"250", b"221"], after
    (msg,) = env.messages("alice")
    data = env.message_bytes("alice", msg)
    assert data.endswith(b"Subject: second\r\n\r\nfine\r\n")


async def test_only_crlf_dot_crlf_ends_data_and_dots_are_unstuffed(env: Env) -> None:
    body = b"Subject: dots\r\n\r\n..\r\n...x\r\n. \r\n.\t\r\nend\r\n"
    _, after = await run(lambda: transaction(env.ports["smtp"], body + b".\r\n"))
    assert codes(after) == [b"250", b"221"], after
    (msg,) = env.messages("alice")
    assert env.message_bytes("alice", msg).endswith(
        b"Subject: dots\r\n\r\n.\r\n..x\r\n \r\n\t\r\nend\r\n"
    )


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        (b"NOOP\n", b"bare <LF>"),
        (b"NOOP\rQUIT\r\n", b"bare <CR>"),
        (b"NOOP\x00\r\n", b"NUL"),
        (b"MAIL FROM:<a@sender.test>\rRCPT TO:<alice@example.org>\r\n", b"bare <CR>"),
    ],
)
async def test_command_lines_end_in_crlf(env: Env, command: bytes, reason: bytes) -> None:
    def go() -> list[bytes]:
        with socket.create_connection(("127.0.0.1", env.ports["smtp"]), timeout=5) as s:
            f = s.makefile("rb")
            _replies(f, 1)
            s.sendall(b"EHLO client.sender.test\r\n")
            _replies(f, 1)
            s.sendall(command + b"QUIT\r\n")
            return _replies(f)

    after = await run(go)
    assert codes(after) == [b"500", b"221"], after
    assert after[0].startswith(b"500 5.5.2 ") and reason in after[0], after[0]
