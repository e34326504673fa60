"""Incoming SMTP (port 25) against a running SMTPService, with smtplib as client."""

from __future__ import annotations

import re
import smtplib
import socket

import pytest
from smtpserver_env import HOSTNAME, Env, run

MSG = (
    b"From: Sender <someone@sender.test>\r\n"
    b"To: alice@example.org\r\n"
    b"Subject: hello\r\n"
    b"Message-ID: <1@sender.test>\r\n"
    b"\r\n"
    b"Hello Alice.\r\n"
    b".leading dot\r\n"
)


def received_id(data: bytes) -> str:
    m = re.search(rb"Received: from .*?id ([0-9a-f]+)", data, re.S)
    assert m, data[:500]
    return m.group(1).decode()


async def test_plain_delivery(env: Env) -> None:
    def go() -> tuple[int, bytes]:
        with env.smtp() as c:
            c.ehlo()
            assert c.has_extn("pipelining") and c.has_extn("smtputf8")
            assert c.has_extn("enhancedstatuscodes") and c.has_extn("8bitmime")
            assert c.has_extn("starttls")
            assert c.esmtp_features["size"] == "20000"
            assert not c.has_extn("requiretls")  # RFC 8689 §4: only after STARTTLS
            assert not c.has_extn("auth")
            c.mail("someone@sender.test")
            c.rcpt("alice@example.org")
            return c.data(MSG)

    code, text = await run(go)
    assert code == 250, text
    msgs = env.messages("alice")
    assert len(msgs) == 1  # the index row exists once 250 has arrived
    data = env.message_bytes("alice", msgs[0])
    assert data.endswith(MSG.replace(b"\r\n.leading", b"\r\n.leading"))
    assert b"\r\n.leading dot\r\n" in data  # transparency (RFC 5321 §4.5.2)
    cid = received_id(data)
    assert cid.encode() in text  # the reply names the same id
    head = data.split(b"\r\n\r\n")[0].decode().replace("\r\n\t", " ")
    assert f"by {HOSTNAME} (postel)" in head
    assert "with ESMTP id" in head
    assert "for <alice@example.org>" in head
    assert "from client.sender.test ([127.0.0.1])" in head
    assert head.startswith("Authentication-Results: " + HOSTNAME)
    assert "spf=pass" in head
    assert not msgs[0].requiretls


async def test_starttls_delivery_and_requiretls(env: Env) -> None:
    def go() -> tuple[int, bytes]:
        with env.smtp() as c:
            c.starttls(context=env.client_context())
            c.ehlo()
            assert c.has_extn("requiretls")
            assert not c.has_extn("starttls")
            c.mail("someone@sender.test", ["REQUIRETLS"])
            c.rcpt("bob@example.org")
            return c.data(MSG)

    code, text = await run(go)
    assert code == 250, text
    (msg,) = env.messages("bob")
    assert msg.requiretls
    data = env.message_bytes("bob", msg)
    assert re.search(rb"with ESMTPS \(using TLSv1\.[23] with cipher [A-Z0-9_-]+\)", data)


async def test_requiretls_refused_without_tls(env: Env) -> None:
    def go() -> tuple[int, bytes]:
        with env.smtp() as c:
            c.ehlo()
            return c.docmd("MAIL", "FROM:<someone@sender.test> REQUIRETLS")

    code, text = await run(go)
    assert code == 530 and b"5.7.10" in text


async def test_relay_refused_and_unknown_user(env: Env) -> None:
    def go() -> list[tuple[int, bytes]]:
        with env.smtp() as c:
            c.ehlo()
            c.mail("someone@sender.test")
            return [
                c.rcpt("victim@elsewhere.test"),
                c.rcpt("nobody@example.org"),
                c.rcpt("alice@example.org"),
                c.rset(),
            ]

    relay, unknown, ok, _ = await run(go)
    assert relay[0] == 550 and relay[1].startswith(b"5.7.1 ")
    assert unknown[0] == 550 and unknown[1].startswith(b"5.1.1 ")
    assert ok[0] == 250


async def test_alias_and_postmaster(env: Env) -> None:
    def go() -> tuple[int, bytes]:
        with env.smtp() as c:
            c.ehlo()
            c.mail("someone@sender.test")
            assert c.rcpt("team@example.org")[0] == 250
            assert c.rcpt("Postmaster")[0] == 250  # RFC 5321 §4.1.1.3
            return c.data(MSG)

    code, _ = await run(go)
    assert code == 250
    assert len(env.messages("bob")) == 1
    assert len(env.messages("alice")) == 1
    assert len(env.messages("alice", "Postmaster")) == 1


async def test_oversize_message_then_session_continues(env: Env) -> None:
    big = MSG + b"x" * 998 + b"\r\n"
    big = big * 25  # > 20000 bytes

    def go() -> tuple[tuple[int, bytes], tuple[int, bytes], tuple[int, bytes]]:
        with env.smtp() as c:
            c.ehlo()
            announced = c.docmd("MAIL", "FROM:<someone@sender.test> SIZE=999999")
            c.mail("someone@sender.test")
            c.rcpt("alice@example.org")
            too_big = c.data(big)  # smtplib returns the final reply of DATA
            c.mail("someone@sender.test")
            c.rcpt("alice@example.org")
            return announced, too_big, c.data(MSG)

    announced, too_big, after = await run(go)
    assert announced[0] == 552 and b"5.3.4" in announced[1]
    assert too_big[0] == 552 and too_big[1].startswith(b"5.3.4")
    assert after[0] == 250
    assert len(env.messages("alice")) == 1
    assert not list(env.cfg.datadir.tmp.iterdir())  # spool files are gone


async def test_too_many_recipients(env: Env) -> None:
    def go() -> list[tuple[int, bytes]]:
        with env.smtp() as c:
            c.ehlo()
            c.mail("someone@sender.test")
            return [c.rcpt("alice@example.org") for _ in range(4)]

    replies = await run(go)
    assert [r[0] for r in replies] == [250, 250, 250, 452]
    assert replies[3][1].startswith(b"4.5.3")


async def test_long_lines(env: Env) -> None:
    def go() -> tuple[tuple[int, bytes], tuple[int, bytes], tuple[int, bytes]]:
        with env.smtp() as c:
            c.ehlo()
            long_cmd = c.docmd("NOOP", "x" * 2000)
            c.mail("someone@sender.test")
            c.rcpt("alice@example.org")
            long_data = c.data(b"Subject: x\r\n\r\n" + b"y" * 1500 + b"\r\n")
            return long_cmd, long_data, c.noop()

    long_cmd, long_data, noop = await run(go)
    assert long_cmd[0] == 500 and long_cmd[1].startswith(b"5.5.2")
    assert long_data[0] == 500 and long_data[1].startswith(b"5.5.2")
    assert noop[0] == 250
    assert env.messages("alice") == []


async def test_bad_commands_disconnect(env: Env) -> None:
    def go() -> list[int]:
        codes = []
        with env.smtp() as c:
            c.ehlo()
            for _ in range(12):
                try:
                    codes.append(c.docmd("BOGUS")[0])
                except smtplib.SMTPServerDisconnected:
                    codes.append(-1)
                    break
        return codes

    codes = await run(go)
    # The 10th error is answered, then 421 and the connection is closed.
    assert codes == [500] * 10 + [421, -1]


async def test_sequence_errors(env: Env) -> None:
    def go() -> list[tuple[int, bytes]]:
        with env.smtp() as c:
            out = [c.docmd("MAIL", "FROM:<a@sender.test>")]  # before EHLO
            c.ehlo()
            out.append(c.docmd("RCPT", "TO:<alice@example.org>"))  # before MAIL
            out.append(c.docmd("DATA"))
            c.mail("someone@sender.test")
            out.append(c.docmd("DATA"))  # no recipients
            out.append(c.docmd("AUTH", "PLAIN AGFsaWNlAHg="))  # not on port 25
            return out

    replies = await run(go)
    assert [r[0] for r in replies] == [503, 503, 503, 554, 503]


async def test_dmarc_reject_and_quarantine(env: Env) -> None:
    def send(frm: str) -> tuple[int, bytes]:
        msg = MSG.replace(b"someone@sender.test", frm.encode())
        with env.smtp() as c:
            c.ehlo()
            c.mail(frm)
            c.rcpt("alice@example.org")
            return c.data(msg)

    rejected = await run(lambda: send("x@strict.test"))
    assert rejected[0] == 550 and rejected[1].startswith(b"5.7.1")
    junk = await run(lambda: send("x@quarantine.test"))
    assert junk[0] == 250
    assert env.messages("alice") == []
    assert len(env.messages("alice", "Junk")) == 1


async def test_verification_failure_keeps_mail(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    import postel.auth

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(postel.auth, "verify_message", broken)

    def go() -> tuple[int, bytes]:
        with env.smtp() as c:
            c.ehlo()
            c.mail("someone@sender.test")
            c.rcpt("alice@example.org")
            return c.data(MSG)

    code, _ = await run(go)
    assert code == 250
    (msg,) = env.messages("alice")
    data = env.message_bytes("alice", msg)
    assert b"spf=temperror" in data and b"Authentication-Results:" in data


async def test_report_address_intake_hook(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import types

    calls: list[tuple[str, str, bytes]] = []

    async def intake(datadir: object, kind: str, path: object, rcpt: str) -> None:
        from pathlib import Path

        calls.append((kind, rcpt, Path(str(path)).read_bytes()))
        raise RuntimeError("intake bug must not matter")

    module = types.ModuleType("postel.reportintake")
    module.intake = intake  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "postel.reportintake", module)

    def go() -> list[tuple[int, bytes]]:
        out = []
        with env.smtp() as c:  # no TLS: reports are accepted anyway
            for rcpt in ("tlsrpt@example.org", "dmarc@example.org", f"tls-reports@{HOSTNAME}"):
                c.ehlo()
                c.mail("someone@sender.test")
                c.rcpt(rcpt)
                out.append(c.data(MSG))
        return out

    replies = await run(go)
    assert [r[0] for r in replies] == [250, 250, 250]
    for _ in range(50):
        if len(calls) == 3:
            break
        import asyncio

        await asyncio.sleep(0.05)
    assert [(k, r) for k, r, _ in calls] == [
        ("tlsrpt", "tlsrpt@example.org"),
        ("dmarc", "dmarc@example.org"),
        ("tlsrpt-host", f"tls-reports@{HOSTNAME}"),
    ]
    assert all(b"Received:" in data for _, _, data in calls)
    assert len(env.messages("alice", "TLSRPT")) == 2
    assert len(env.messages("alice", "DMARC")) == 1


async def test_smtputf8_delivery(env: Env) -> None:
    def go() -> tuple[int, bytes]:
        with env.smtp() as c:
            c.ehlo()
            c.mail("jöran@sender.test", ["SMTPUTF8"])
            c.rcpt("alice@example.org")
            return c.data(MSG.replace(b"Subject: hello", "Subject: grüße".encode()))

    code, _ = await run(go)
    assert code == 250
    (msg,) = env.messages("alice")
    assert b"with UTF8SMTP\r\n\tid" in env.message_bytes("alice", msg)


async def test_pipelined_starttls_refused(env: Env) -> None:
    def go() -> bytes:
        with socket.create_connection(("127.0.0.1", env.ports["smtp"]), timeout=5) as s:
            f = s.makefile("rb")
            f.readline()
            s.sendall(b"EHLO x\r\n")
            while f.readline()[3:4] == b"-":
                pass
            s.sendall(b"STARTTLS\r\nMAIL FROM:<a@sender.test>\r\n")
            return f.readline()

    line = await run(go)
    assert line.startswith(b"554 5.5.1")


async def test_pipelining(env: Env) -> None:
    def go() -> list[bytes]:
        with socket.create_connection(("127.0.0.1", env.ports["smtp"]), timeout=5) as s:
            f = s.makefile("rb")
            f.readline()
            s.sendall(b"EHLO x\r\n")
            while f.readline()[3:4] == b"-":
                pass
            s.sendall(
                b"MAIL FROM:<a@sender.test>\r\nRCPT TO:<alice@example.org>\r\n"
                b"RCPT TO:<nope@example.org>\r\nDATA\r\n"
            )
            replies = [f.readline() for _ in range(4)]
            s.sendall(b"Subject: p\r\n\r\nbody\r\n.\r\nQUIT\r\n")
            replies += [f.readline(), f.readline()]
            return replies

    replies = await run(go)
    assert [r[:3] for r in replies] == [b"250", b"250", b"550", b"354", b"250", b"221"]
