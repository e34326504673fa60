"""Certificates made on the fly for the DANE tests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import NameOID

NOW = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


@dataclass
class Issued:
    cert: x509.Certificate
    key: CertificateIssuerPrivateKeyTypes

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)


def make_key(kind: str = "ec") -> CertificateIssuerPrivateKeyTypes:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    return ec.generate_private_key(ec.SECP256R1())


def issue(
    cn: str,
    issuer: Issued | None = None,
    *,
    ca: bool = False,
    names: list[str] | None = None,
    not_before: dt.datetime = NOW - 30 * DAY,
    not_after: dt.datetime = NOW + 60 * DAY,
    key: CertificateIssuerPrivateKeyTypes | None = None,
    issuer_name: x509.Name | None = None,
    basic_constraints: bool = True,
    path_length: int | None = None,
    key_kind: str = "ec",
) -> Issued:
    """A certificate for ``cn``, self-signed when ``issuer`` is None."""
    key = key or make_key(key_kind)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    signer_key = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name or (issuer.cert.subject if issuer else subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    if basic_constraints:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=ca, path_length=path_length if ca else None), critical=True
        )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    if names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
        )
    algorithm = None if isinstance(signer_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return Issued(builder.sign(signer_key, algorithm), key)


@dataclass
class PKI:
    root: Issued
    intermediate: Issued
    leaf: Issued

    @property
    def chain(self) -> list[bytes]:
        """What a server sends: leaf then intermediate (root omitted)."""
        return [self.leaf.der, self.intermediate.der]


@pytest.fixture(scope="session")
def pki() -> PKI:
    root = issue("Test Root", ca=True, key_kind="rsa")
    intermediate = issue("Test Intermediate", root, ca=True)
    leaf = issue("mx.example.org", intermediate, names=["mx.example.org", "mail.example.org"])
    return PKI(root, intermediate, leaf)


@pytest.fixture(scope="session")
def make_cert() -> Callable[..., Issued]:
    """The ``issue`` function, for tests that need special certificates."""
    return issue


@pytest.fixture(scope="session")
def now() -> dt.datetime:
    return NOW
