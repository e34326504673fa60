"""Fixtures for smtpclient tests: the scripted server (smtpclient_fake.py), a test CA."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trustme
from smtpclient_fake import PKI, FakeSMTP, Script, policy

from postel.smtpclient import TLSMode, TLSPolicy


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    tmp = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    ca_file = tmp / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return PKI(ca, ca_file, tmp)


@pytest.fixture
def server() -> Iterator[Callable[[Script], FakeSMTP]]:
    started: list[FakeSMTP] = []

    def start(script: Script) -> FakeSMTP:
        srv = FakeSMTP(script)
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()


@pytest.fixture
def message(tmp_path: Path) -> Path:
    path = tmp_path / "msg.eml"
    path.write_bytes(
        b"From: a@sender.example\r\nTo: b@example.org\r\nSubject: test\r\n\r\n"
        b"Hello\r\n.leading dot\r\n.\r\nend\r\n"
    )
    return path


@pytest.fixture
def make_policy(pki: PKI) -> Callable[..., TLSPolicy]:
    def make(mode: TLSMode = TLSMode.OPPORTUNISTIC, **kw: object) -> TLSPolicy:
        return policy(pki, mode, **kw)

    return make
