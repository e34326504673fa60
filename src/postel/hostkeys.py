"""The host's TLS key and certificate, and DANE TLSA 3 1 1 values of it."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from postel.dane import tlsa_for
from postel.fsutil import write_new

HostKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def generate_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def generate_rsa_key() -> rsa.RSAPrivateKey:
    """The RSA-2048 host key, offered next to the ECDSA one for receivers without ECDSA."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def key_pem(key: HostKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def self_signed_cert(key: HostKey, names: list[str], days: int = 825) -> x509.Certificate:
    """A self-signed certificate for *names* (DNS names or IP addresses)."""
    sans: list[x509.GeneralName] = []
    for name in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            sans.append(x509.DNSName(name))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )


def write_key_and_cert(key_file: Path, cert_file: Path, names: list[str]) -> None:
    key = generate_key()
    cert = self_signed_cert(key, names)
    write_new(key_file, key_pem(key))
    write_new(cert_file, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)


def cert_file_spki_sha256(cert_file: Path) -> str:
    """Hex TLSA 3 1 1 data of the first certificate in *cert_file* (RFC 7671 §5.1)."""
    cert = x509.load_pem_x509_certificates(cert_file.read_bytes())[0]
    return tlsa_for(cert).data.hex()
