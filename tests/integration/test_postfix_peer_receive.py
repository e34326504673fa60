"""The Postfix peer as a receiving MX: STARTTLS with a testnet.ca certificate,
delivery into a Maildir (for later tests of postel's outgoing delivery)."""

from __future__ import annotations

import smtplib
import ssl
from pathlib import Path
from typing import Any

import pytest
from postfixpeer import PostfixPeer

pytestmark = pytest.mark.integration


def test_postfix_receives_over_starttls_into_maildir(
    testnet: Any, postfix_peer: PostfixPeer, tmp_path: Path
) -> None:
    cert = testnet.ca.issue_cert(postfix_peer.hostname, postfix_peer.ip)
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    postfix_peer.configure(relay_to=None, tls="may")
    postfix_peer.receive_into_maildir(
        ["inbox.test"], cert_file=tmp_path / "cert.pem", key_file=tmp_path / "key.pem"
    )
    ctx = ssl.create_default_context(cafile=str(testnet.ca_file))
    with smtplib.SMTP(postfix_peer.ip, postfix_peer.port, timeout=20) as s:
        s.ehlo("client.test")
        assert s.has_extn("starttls")
        s.starttls(context=ctx)  # verifies the certificate for the peer's IP
        s.ehlo("client.test")
        s.sendmail(
            "a@sender.test",
            ["bob@inbox.test", "carol@inbox.test"],
            b"Subject: to the maildir\r\n\r\nhello\r\n",
        )
    postfix_peer.wait_until_queue_empty(30)
    msgs = postfix_peer.maildir_messages("inbox.test")
    assert len(msgs) == 2
    assert all(b"Subject: to the maildir" in m for m in msgs)
    # Postfix records the TLS session in its Received header.
    assert all(b"(using TLS" in m for m in msgs)
