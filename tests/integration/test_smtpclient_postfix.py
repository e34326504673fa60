"""postel.smtpclient delivering to a private Postfix smtpd (the receiving MX) with a
testnet.ca certificate: STARTTLS, PKIX and DANE evaluation, REQUIRETLS, rejections."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from postfixpeer import PostfixPeer

from postel.dane import tlsa_for
from postel.smtpclient import SessionResult, TLSMode, TLSPolicy, deliver_session
from postel.tlsrpt.report import ResultType

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("every_log_level")]

DOMAIN = "smtpclient.test"


@pytest.fixture(scope="module")
def peer_cert(
    testnet: Any, postfix_peer: PostfixPeer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[x509.Certificate]:
    tmp = tmp_path_factory.mktemp("postfix-cert")
    leaf = testnet.ca.issue_cert(postfix_peer.hostname)
    leaf.private_key_pem.write_to_path(str(tmp / "key.pem"))
    leaf.cert_chain_pems[0].write_to_path(str(tmp / "cert.pem"))
    # No relaying for anyone: mail to other domains is refused at RCPT.
    postfix_peer.configure(
        relay_to=None,
        tls="may",
        extra={"smtpd_relay_restrictions": "permit_auth_destination, reject"},
    )
    postfix_peer.receive_into_maildir(
        [DOMAIN], cert_file=tmp / "cert.pem", key_file=tmp / "key.pem"
    )
    yield x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())


def message(tmp_path: Path, subject: str) -> Path:
    path = tmp_path / "msg.eml"
    body = (
        f"From: <a@sender.test>\r\nTo: <bob@{DOMAIN}>\r\nSubject: {subject}\r\n"
        f"Message-ID: <{uuid.uuid4()}@sender.test>\r\n\r\n"
        ".a line starting with a dot\r\n..two dots\r\n.\r\nlast line\r\n"
    )
    path.write_text(body)
    return path


async def deliver(
    peer: PostfixPeer, tls: TLSPolicy, msg: Path, rcpts: list[str], **kw: Any
) -> SessionResult:
    args: dict[str, Any] = {
        "host": peer.hostname,
        "ip": peer.ip,
        "port": peer.port,
        "tls": tls,
        "ehlo_name": "client.sender.test",
        "mail_from": "a@sender.test",
        "rcpts": rcpts,
        "message": msg,
        "requiretls": False,
        "smtputf8": False,
        "eightbit": False,
        "connect_timeout": 10.0,
        "command_timeout": 20.0,
    }
    args.update(kw)
    return await deliver_session(**args)


def received(peer: PostfixPeer, subject: str) -> list[bytes]:
    return [m for m in peer.maildir_messages(DOMAIN) if f"Subject: {subject}".encode() in m]


async def wait_received(peer: PostfixPeer, subject: str, count: int) -> list[bytes]:
    await asyncio.to_thread(peer.wait_until_queue_empty, 30)
    for _ in range(50):
        msgs = received(peer, subject)
        if len(msgs) >= count:
            return msgs
        await asyncio.sleep(0.1)
    return received(peer, subject)


async def test_starttls_pkix_and_dane_to_postfix(
    testnet: Any, postfix_peer: PostfixPeer, peer_cert: x509.Certificate, tmp_path: Path
) -> None:
    subject = f"pkix and dane {uuid.uuid4()}"
    tls = TLSPolicy(
        mode=TLSMode.STARTTLS_REQUIRED,
        verify_pkix=True,
        dane_records=[tlsa_for(peer_cert)],
        verify_dane=True,
        allowed_names=[postfix_peer.hostname],
        pkix_name=postfix_peer.hostname,
        extra_ca_files=[Path(testnet.ca_file)],
    )
    rcpts = [f"bob@{DOMAIN}", f"carol@{DOMAIN}"]
    msg = message(tmp_path, subject)
    r = await deliver(postfix_peer, tls, msg, rcpts, eightbit=True)
    assert r.error is None, r.error
    assert r.delivered == rcpts
    assert r.tls and r.tls_success and r.starttls_offered and r.tls_failure is None
    assert r.tls_version in ("TLSv1.2", "TLSv1.3")
    assert r.pkix_ok is True and r.pkix_failure is None
    assert r.dane is not None and r.dane.matched
    assert r.receiving_mx_helo == postfix_peer.hostname
    assert not r.requiretls_offered  # Postfix does not implement RFC 8689
    assert r.data_reply is not None and r.data_reply.code == 250
    msgs = await wait_received(postfix_peer, subject, 2)
    assert len(msgs) == 2
    for m in msgs:
        assert b"(using TLS" in m
        # Dot-stuffing undone by Postfix: the body arrives as written.
        assert m.replace(b"\n", b"\r\n").endswith(msg.read_bytes().split(b"\r\n\r\n", 1)[1])


async def test_pkix_name_mismatch_reported_and_enforced(
    testnet: Any, postfix_peer: PostfixPeer, peer_cert: x509.Certificate, tmp_path: Path
) -> None:
    subject = f"mismatch {uuid.uuid4()}"
    msg = message(tmp_path, subject)
    base = {
        "mode": TLSMode.OPPORTUNISTIC,
        "pkix_name": "other-mx.peer.test",
        "extra_ca_files": [Path(testnet.ca_file)],
    }
    r = await deliver(postfix_peer, TLSPolicy(**base, verify_pkix=True), msg, [f"bob@{DOMAIN}"])
    assert r.verification_failed and r.error is not None and r.error.temporary
    assert r.pkix_failure is not None
    assert r.pkix_failure.result_type == ResultType.CERTIFICATE_HOST_MISMATCH
    assert r.pkix_failure.receiving_ip == postfix_peer.ip

    # Not enforced (no MTA-STS, no DANE): reported, delivered anyway.
    r = await deliver(postfix_peer, TLSPolicy(**base), msg, [f"bob@{DOMAIN}"])
    assert r.delivered == [f"bob@{DOMAIN}"]
    assert r.pkix_failure is not None and r.tls_success
    assert len(await wait_received(postfix_peer, subject, 1)) == 1


async def test_untrusted_without_extra_ca(
    postfix_peer: PostfixPeer, peer_cert: x509.Certificate, tmp_path: Path
) -> None:
    msg = message(tmp_path, f"untrusted {uuid.uuid4()}")
    tls = TLSPolicy(mode=TLSMode.OPPORTUNISTIC, pkix_name=postfix_peer.hostname)
    r = await deliver(postfix_peer, tls, msg, [f"bob@{DOMAIN}"])
    assert r.delivered == [f"bob@{DOMAIN}"]
    assert r.pkix_failure is not None
    assert r.pkix_failure.result_type == ResultType.CERTIFICATE_NOT_TRUSTED


async def test_requiretls_refused_by_postfix(
    testnet: Any, postfix_peer: PostfixPeer, peer_cert: x509.Certificate, tmp_path: Path
) -> None:
    msg = message(tmp_path, f"requiretls {uuid.uuid4()}")
    tls = TLSPolicy(
        mode=TLSMode.STARTTLS_REQUIRED,
        verify_pkix=True,
        pkix_name=postfix_peer.hostname,
        extra_ca_files=[Path(testnet.ca_file)],
    )
    r = await deliver(postfix_peer, tls, msg, [f"bob@{DOMAIN}"], requiretls=True)
    assert r.error is not None and r.error.permanent
    assert (r.error.code, r.error.enhanced) == (550, "5.7.30")
    assert r.outcome(f"bob@{DOMAIN}")[:3] == ("permanent", 550, "5.7.30")


async def test_recipient_rejected_by_postfix(
    postfix_peer: PostfixPeer, peer_cert: x509.Certificate, tmp_path: Path
) -> None:
    subject = f"partly {uuid.uuid4()}"
    msg = message(tmp_path, subject)
    tls = TLSPolicy(mode=TLSMode.OPPORTUNISTIC, pkix_name=postfix_peer.hostname)
    rcpts = [f"bob@{DOMAIN}", "someone@not-ours.example"]
    r = await deliver(postfix_peer, tls, msg, rcpts)
    assert r.delivered == [f"bob@{DOMAIN}"]
    status, code, enhanced, text = r.outcome("someone@not-ours.example")
    assert (status, code, enhanced) == ("permanent", 554, "5.7.1"), text
    assert "rejected" in text
    assert len(await wait_received(postfix_peer, subject, 1)) == 1


SMUGGLING_ENDS = [
    b"\n.\n", b"\n.\r\n", b"\r\n.\n", b"\r.\r", b"\r\n.\r", b"\r.\r\n", b"\n.\r", b"\r.\n",
    b"\r\n\x00.\r\n", b"\r\n.\x00\r\n", b"\r\n.\r\r\n", b"\r\r\n.\r\r\n", b"\r\n.\r\n",
]  # fmt: skip


async def test_smuggling_sequences_stay_inside_one_message(
    postfix_peer: PostfixPeer, peer_cert: x509.Certificate, tmp_path: Path
) -> None:
    """SMTP smuggling (CVE-2023-51764 class), outbound: a stored message holding an
    end-of-data look-alike and a forged transaction after it reaches Postfix (which
    takes a bare LF for a line end: smtpd_forbid_bare_newline = no) as one message;
    the forged one is never delivered on its own."""
    tag = uuid.uuid4().hex
    tls = TLSPolicy(mode=TLSMode.SKIP, pkix_name=postfix_peer.hostname)
    for i, end in enumerate(SMUGGLING_ENDS):
        path = tmp_path / f"smuggle-{i}.eml"
        path.write_bytes(
            f"From: <a@sender.test>\r\nTo: <bob@{DOMAIN}>\r\nSubject: first {tag} {i}.\r\n"
            f"\r\nline1".encode()
            + end
            + f"MAIL FROM:<admin@{DOMAIN}>\r\nRCPT TO:<bob@{DOMAIN}>\r\nDATA\r\n"
            f"From: <admin@{DOMAIN}>\r\nSubject: smuggled {tag} {i}\r\n\r\nforged\r\n".encode()
        )
        r = await deliver(postfix_peer, tls, path, [f"bob@{DOMAIN}"])
        assert r.error is None, (end, r.error)
        assert r.delivered == [f"bob@{DOMAIN}"]
    for i, end in enumerate(SMUGGLING_ENDS):
        (msg,) = await wait_received(postfix_peer, f"first {tag} {i}.", 1)
        # The forged transaction arrived as text inside the first message.
        assert b"MAIL FROM:<admin@" in msg, end
        assert b"\r" not in msg.split(b"\n\n", 1)[1], end  # CRLF only, stored as LF
        assert b"\x00" not in msg
    smuggled = received(postfix_peer, f"smuggled {tag}")
    assert len(smuggled) == len(SMUGGLING_ENDS)
    assert all(f"Subject: first {tag}".encode() in m for m in smuggled)
