"""Submission (587 STARTTLS, 465 implicit TLS) against a running SMTPService."""

from __future__ import annotations

import base64
import smtplib

import pytest
from smtpserver_env import PASSWORD, Env, run

MSG = (
    b"From: Alice <alice@example.org>\r\n"
    b"To: bob@example.org\r\n"
    b"Subject: from alice\r\n"
    b"\r\n"
    b"Hi Bob.\r\n"
)


def plain(user: str, password: str) -> str:
    return base64.b64encode(f"\0{user}\0{password}".encode()).decode()


async def test_auth_plain_over_starttls_with_dkim(env: Env) -> None:
    def go() -> tuple[int, bytes]:
        with env.submission() as c:
            c.ehlo()
            assert not c.has_extn("auth")  # not offered before TLS
            c.starttls(context=env.client_context())
            c.ehlo()
            assert c.esmtp_features["auth"].split() == ["SCRAM-SHA-256", "PLAIN", "LOGIN"]
            c.login("alice@example.org", PASSWORD)  # smtplib tries CRAM-MD5 (absent), PLAIN
            c.mail("alice@example.org")
            c.rcpt("bob@example.org")
            return c.data(MSG)

    code, text = await run(go)
    assert code == 250, text
    (msg,) = env.messages("bob")
    data = env.message_bytes("bob", msg)
    head = data.split(b"\r\n\r\n")[0].replace(b"\r\n\t", b" ").replace(b"\r\n ", b" ")
    assert b"DKIM-Signature:" in head and b"d=example.org" in head and b"s=s1" in head
    assert b"with ESMTPSA" in head
    assert b"Message-ID: <" in head and b"Date: " in head  # added (RFC 6409 §8)


async def test_auth_login_on_465(env: Env) -> None:
    def go() -> tuple[int, bytes]:
        with env.submissions() as c:
            c.ehlo()
            c.user, c.password = "alice", PASSWORD
            code, resp = c.auth("LOGIN", c.auth_login, initial_response_ok=False)
            assert code == 235, resp
            c.mail("alice@example.org")
            c.rcpt("bob@example.org")
            return c.data(MSG)

    code, text = await run(go)
    assert code == 250, text
    assert len(env.messages("bob")) == 1


async def test_auth_before_tls_refused(env: Env) -> None:
    def go() -> tuple[tuple[int, bytes], tuple[int, bytes]]:
        with env.submission() as c:
            c.ehlo()
            auth = c.docmd("AUTH", "PLAIN " + plain("alice", PASSWORD))
            mail = c.docmd("MAIL", "FROM:<alice@example.org>")
            return auth, mail

    auth, mail = await run(go)
    assert auth[0] == 538 and auth[1].startswith(b"5.7.11")
    assert mail[0] == 530  # authentication required


async def test_wrong_password_delay_and_disconnect(env: Env) -> None:
    def go() -> list[int]:
        codes = []
        with env.submissions() as c:
            c.ehlo()
            for _ in range(4):
                try:
                    codes.append(c.docmd("AUTH", "PLAIN " + plain("alice", "wrong"))[0])
                except smtplib.SMTPServerDisconnected:
                    codes.append(-1)
                    break
        return codes

    codes = await run(go)
    assert codes == [535, 535, 535, 421]


async def test_unknown_user_and_cancel(env: Env) -> None:
    def go() -> list[tuple[int, bytes]]:
        with env.submissions() as c:
            c.ehlo()
            out = [c.docmd("AUTH", "PLAIN " + plain("nobody@example.org", PASSWORD))]
            out.append(c.docmd("AUTH", "LOGIN"))
            out.append(c.docmd("*"))
            out.append(c.docmd("AUTH", "CRAM-MD5"))
            return out

    unknown, challenge, cancelled, mech = await run(go)
    assert unknown[0] == 535 and unknown[1].startswith(b"5.7.8")
    assert challenge[0] == 334
    assert cancelled[0] == 501
    assert mech[0] == 504


async def test_sending_as_someone_else_refused(env: Env) -> None:
    def go() -> tuple[tuple[int, bytes], tuple[int, bytes]]:
        with env.submissions() as c:
            c.login("alice", PASSWORD)
            envelope = c.docmd("MAIL", "FROM:<bob@example.org>")
            c.mail("alice@example.org")
            c.rcpt("bob@example.org")
            header = c.data(MSG.replace(b"From: Alice <alice@", b"From: Bob <bob@"))
            return envelope, header

    envelope, header = await run(go)
    assert envelope[0] == 553 and envelope[1].startswith(b"5.7.1")
    assert header[0] == 550 and header[1].startswith(b"5.7.1")
    assert env.messages("bob") == []


async def test_local_submitter_refuses_remote(env: Env) -> None:
    def go() -> tuple[int, bytes]:
        with env.submissions() as c:
            c.login("alice", PASSWORD)
            c.mail("alice@example.org")
            c.rcpt("someone@elsewhere.test")
            return c.data(MSG)

    code, text = await run(go)
    assert code == 550 and b"no outgoing queue yet" in text


async def test_requiretls_submission_flag(env: Env) -> None:
    def go() -> tuple[int, bytes]:
        with env.submissions() as c:
            c.ehlo()
            assert c.has_extn("requiretls")
            c.login("alice", PASSWORD)
            c.mail("alice@example.org", ["REQUIRETLS"])
            c.rcpt("bob@example.org")
            return c.data(MSG)

    code, _ = await run(go)
    assert code == 250
    (msg,) = env.messages("bob")
    assert msg.requiretls


@pytest.mark.parametrize("user", ["alice", "alice@example.org", "ALICE@Example.org"])
async def test_login_names(env: Env, user: str) -> None:
    def go() -> tuple[int, bytes]:
        with env.submissions() as c:
            c.ehlo()
            return c.docmd("AUTH", "PLAIN " + plain(user, PASSWORD))

    code, _ = await run(go)
    assert code == 235


def scram_login(c: smtplib.SMTP, user: str, password: str) -> tuple[int, bytes]:
    """A SCRAM-SHA-256 client (RFC 5802 §3) on top of smtplib.docmd."""
    import hashlib
    import hmac
    import os

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    cnonce = b64(os.urandom(12))
    first_bare = f"n={user},r={cnonce}"
    code, resp = c.docmd("AUTH", "SCRAM-SHA-256 " + b64(("n,," + first_bare).encode()))
    if code != 334:
        return code, resp
    server_first = base64.b64decode(resp).decode()
    attrs = dict(a.split("=", 1) for a in server_first.split(","))
    salted = hashlib.pbkdf2_hmac(
        "sha256", password.encode(), base64.b64decode(attrs["s"]), int(attrs["i"])
    )
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored = hashlib.sha256(client_key).digest()
    without_proof = f"c=biws,r={attrs['r']}"
    auth_message = f"{first_bare},{server_first},{without_proof}".encode()
    sig = hmac.new(stored, auth_message, hashlib.sha256).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, sig, strict=True))
    code, resp = c.docmd(b64(f"{without_proof},p={b64(proof)}".encode()))
    if code != 334:
        return code, resp
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    expected = "v=" + b64(hmac.new(server_key, auth_message, hashlib.sha256).digest())
    assert base64.b64decode(resp).decode() == expected  # the server knows the key too
    return c.docmd("")


async def test_scram_sha256(env: Env) -> None:
    def go() -> tuple[tuple[int, bytes], tuple[int, bytes], tuple[int, bytes]]:
        with env.submissions() as c:
            c.ehlo()
            bad = scram_login(c, "alice", "wrong")
            unknown = scram_login(c, "nobody", PASSWORD)
            good = scram_login(c, "alice@example.org", PASSWORD)
            return bad, unknown, good

    bad, unknown, good = await run(go)
    assert bad[0] == 535 and unknown[0] == 535
    assert good[0] == 235
