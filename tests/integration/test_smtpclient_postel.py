"""postel.smtpclient delivering to postel's own SMTPService on the test network:
REQUIRETLS end to end and DANE-TA with a full trust-anchor record."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from postfixpeer.postel_env import DOMAIN, HOSTNAME, running_postel
from storagebackend import Backend

from postel.dane import MatchingType, Selector, Usage, tlsa_for
from postel.smtpclient import TLSMode, TLSPolicy, deliver_session

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("every_log_level")]


async def test_requiretls_and_dane_ta_to_postel(
    testnet: Any, tmp_path: Path, storage_backend: Backend
) -> None:
    ip = testnet.ip()
    ca_cert = x509.load_pem_x509_certificate(testnet.ca.cert_pem.bytes())
    anchor = tlsa_for(ca_cert, Usage.DANE_TA, Selector.CERT, MatchingType.FULL)
    subject = f"requiretls {uuid.uuid4()}"
    msg = tmp_path / "msg.eml"
    msg.write_bytes(
        f"From: <a@sender.test>\r\nTo: <alice@{DOMAIN}>\r\nSubject: {subject}\r\n"
        f"Message-ID: <{uuid.uuid4()}@sender.test>\r\n\r\n.dot\r\nbody\r\n".encode()
    )
    root = tmp_path / "postel"
    root.mkdir()
    async with running_postel(root, testnet, ip, backend=storage_backend) as env:
        tls = TLSPolicy(
            mode=TLSMode.STARTTLS_REQUIRED,
            verify_pkix=True,
            dane_records=[anchor],
            verify_dane=True,
            allowed_names=[HOSTNAME],
            pkix_name=HOSTNAME,
            extra_ca_files=[Path(testnet.ca_file)],
        )
        r = await deliver_session(
            host=HOSTNAME,
            ip=ip,
            port=env.port,
            tls=tls,
            ehlo_name="client.sender.test",
            mail_from="a@sender.test",
            rcpts=[f"alice@{DOMAIN}", f"nobody@{DOMAIN}"],
            message=msg,
            requiretls=True,
            smtputf8=False,
            eightbit=False,
            connect_timeout=10,
            command_timeout=20,
        )
        assert r.error is None, r.error
        assert r.tls and r.requiretls_offered and r.pkix_ok
        assert r.dane is not None and r.dane.matched and r.dane.name == HOSTNAME
        assert r.delivered == [f"alice@{DOMAIN}"]
        assert r.outcome(f"nobody@{DOMAIN}")[0] == "permanent"
        msgs = [m for m in env.messages("Inbox") if subject.encode() in env.message_bytes(m)]
        assert len(msgs) == 1
        data = env.message_bytes(msgs[0])
        assert data.endswith(b"\r\n.dot\r\nbody\r\n")
