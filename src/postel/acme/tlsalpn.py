"""The TLS-ALPN-01 challenge certificate (RFC 8737 §3), built with cryptography."""

from __future__ import annotations

import datetime as dt
import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID, ObjectIdentifier

ALPN_PROTOCOL = "acme-tls/1"  # RFC 8737 §6.2
ID_PE_ACME_IDENTIFIER = ObjectIdentifier("1.3.6.1.5.5.7.1.31")  # RFC 8737 §6.1


def acme_identifier_value(key_authorization: str) -> bytes:
    """DER of Authorization ::= OCTET STRING (SIZE (32)): SHA-256 of the key
    authorization (RFC 8737 §3)."""
    digest = hashlib.sha256(key_authorization.encode("ascii")).digest()
    return b"\x04\x20" + digest


def challenge_certificate(
    name: str, key_authorization: str, key: ec.EllipticCurvePrivateKey
) -> x509.Certificate:
    """A self-signed certificate for *name* only, with the critical acmeIdentifier
    extension holding the key authorization's digest (RFC 8737 §3)."""
    now = dt.datetime.now(dt.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=7))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(
            x509.UnrecognizedExtension(
                ID_PE_ACME_IDENTIFIER, acme_identifier_value(key_authorization)
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
