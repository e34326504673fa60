"""Outbound SMTP smuggling (the CVE-2023-51764 class): whatever a stored message
holds, postel's client sends only CRLF line ends, no NUL and correct
dot-stuffing (RFC 5321 §2.3.8, §4.5.2), so that no receiver, however lenient
about line ends, sees the end of data early and reads the rest as commands.

The receiver here is lenient on purpose (smtpclient_fake.Script.lenient_data_end):
it takes any "." line for the end of data, as the vulnerable receivers of the
published research (SEC Consult, 2023) did.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from smtpclient_fake import FakeSMTP, Script

from postel.smtpclient import TLSMode, TLSPolicy, deliver_session, stuff, unstuff

Server = Callable[[Script], FakeSMTP]
MakePolicy = Callable[..., TLSPolicy]

RCPT = "b@example.org"

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
    b"\r\n\x00.\x00\r\n",
    b"\r\n.\r\r\n",
    b"\r\r\n.\r\r\n",
    b"\r\n.\r\n",  # the real end of data, inside a stored message
]

SMUGGLED = (
    b"MAIL FROM:<admin@example.org>\r\n"
    b"RCPT TO:<b@example.org>\r\n"
    b"DATA\r\n"
    b"From: admin@example.org\r\nSubject: smuggled\r\n\r\nforged\r\n"
)


def message_with(variant: bytes) -> bytes:
    return b"From: a@sender.example\r\nSubject: first\r\n\r\nline1" + variant + SMUGGLED


def expected(data: bytes) -> bytes:
    """What the receiver must get once unstuffed: every CR, LF and CRLF is one
    CRLF line end, NUL is dropped, and the last line ends in CRLF."""
    text = re.sub(rb"\r\n|\r|\n", b"\r\n", data.replace(b"\x00", b""))
    return text if not text or text.endswith(b"\r\n") else text + b"\r\n"


def assert_clean(stream: bytes) -> None:
    """CRLF only, no NUL, and a single end-of-data marker: at the end."""
    assert b"\x00" not in stream
    assert re.search(rb"\r(?!\n)|(?<!\r)\n", stream) is None, stream
    assert stream.endswith(b"\r\n.\r\n") or stream == b".\r\n"
    assert b"\r\n.\r\n" not in b"\r\n" + stream[:-3]


@pytest.mark.parametrize("variant", VARIANTS, ids=repr)
async def test_lenient_receiver_sees_one_message(
    server: Server, make_policy: MakePolicy, tmp_path: Path, variant: bytes
) -> None:
    path = tmp_path / "msg.eml"
    path.write_bytes(message_with(variant))
    srv = server(Script(extensions=["PIPELINING", "8BITMIME"], lenient_data_end=True))
    r = await deliver_session(
        host="mx.example.org", ip="127.0.0.1", port=srv.port, tls=make_policy(TLSMode.SKIP),
        ehlo_name="client.sender.example", mail_from="a@sender.example", rcpts=[RCPT],
        message=path, requiretls=False, smtputf8=False, eightbit=False,
        connect_timeout=5.0, command_timeout=5.0,
    )  # fmt: skip
    assert r.error is None, r.error
    assert r.delivered == [RCPT]
    verbs = [c.split(" ", 1)[0].split(":", 1)[0].upper() for c in srv.seen.commands]
    # One transaction: nothing of the message was read as a command.
    assert verbs == ["EHLO", "MAIL", "RCPT", "DATA", "QUIT"], srv.seen.commands
    (stream,) = srv.seen.data
    assert_clean(stream)
    assert unstuff(stream) == expected(message_with(variant))


@pytest.mark.parametrize(
    ("data", "sent"),
    [
        (b"line1\r.\r\nMAIL", b"line1\r\n..\r\nMAIL\r\n.\r\n"),
        (b"a\rb", b"a\r\nb\r\n.\r\n"),
        (b"a\r", b"a\r\n.\r\n"),
        (b".\r", b"..\r\n.\r\n"),
        (b"\r.", b"\r\n..\r\n.\r\n"),
        (b"a\x00\r\n\x00.\x00\r\n", b"a\r\n..\r\n.\r\n"),
        (b"\x00", b".\r\n"),
        (b"a\r\r\nb", b"a\r\n\r\nb\r\n.\r\n"),
    ],
)
def test_bare_cr_and_nul_examples(data: bytes, sent: bytes) -> None:
    assert stuff(data) == sent


async def test_no_command_carries_a_line_end(
    server: Server, make_policy: MakePolicy, tmp_path: Path
) -> None:
    path = tmp_path / "msg.eml"
    path.write_bytes(b"Subject: x\r\n\r\nbody\r\n")
    srv = server(Script(extensions=["PIPELINING", "8BITMIME"]))
    r = await deliver_session(
        host="mx.example.org", ip="127.0.0.1", port=srv.port, tls=make_policy(TLSMode.SKIP),
        ehlo_name="client.sender.example", mail_from="a@sender.example",
        rcpts=["b@example.org>\r\nRCPT TO:<c@example.org"],
        message=path, requiretls=False, smtputf8=False, eightbit=False,
        connect_timeout=5.0, command_timeout=5.0,
    )  # fmt: skip
    assert r.error is not None and r.error.permanent
    assert "CR, LF or NUL" in r.error.text
    assert not any(c.startswith("RCPT") for c in srv.seen.commands), srv.seen.commands
    assert srv.seen.data == []
