"""PKIX evaluation of server chains and its RFC 8460 result types."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from postel.smtpclient import verify_pkix
from postel.smtpclient.pkix import load_store, system_ca_files
from postel.tlsrpt.report import ResultType

NOW = dt.datetime.now(dt.UTC)


def chain_der(leaf: trustme.LeafCert) -> list[bytes]:
    return [
        x509.load_pem_x509_certificate(b.bytes()).public_bytes(serialization.Encoding.DER)
        for b in leaf.cert_chain_pems
    ]


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[trustme.CA, Path]:
    ca = trustme.CA()
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return ca, path


def test_valid(ca: tuple[trustme.CA, Path]) -> None:
    leaf = ca[0].issue_cert("mx.example.org")
    r = verify_pkix(chain_der(leaf), "mx.example.org", extra_ca_files=[ca[1]])
    assert r.ok and r.result_type is None


def test_valid_trailing_dot_and_case(ca: tuple[trustme.CA, Path]) -> None:
    leaf = ca[0].issue_cert("mx.example.org")
    assert verify_pkix(chain_der(leaf), "MX.Example.org.", extra_ca_files=[ca[1]]).ok


def test_wildcard(ca: tuple[trustme.CA, Path]) -> None:
    leaf = ca[0].issue_cert("*.example.org")
    assert verify_pkix(chain_der(leaf), "mx.example.org", extra_ca_files=[ca[1]]).ok
    r = verify_pkix(chain_der(leaf), "a.mx.example.org", extra_ca_files=[ca[1]])
    assert r.result_type == ResultType.CERTIFICATE_HOST_MISMATCH


def test_intermediate(ca: tuple[trustme.CA, Path]) -> None:
    leaf = ca[0].create_child_ca().issue_cert("mx.example.org")
    der = chain_der(leaf)
    assert len(der) == 2
    assert verify_pkix(der, "mx.example.org", extra_ca_files=[ca[1]]).ok
    # Without the intermediate there is no path.
    r = verify_pkix(der[:1], "mx.example.org", extra_ca_files=[ca[1]])
    assert r.result_type == ResultType.CERTIFICATE_NOT_TRUSTED


def test_expired_leaf(ca: tuple[trustme.CA, Path]) -> None:
    leaf = ca[0].issue_cert(
        "mx.example.org",
        not_before=NOW - dt.timedelta(days=30),
        not_after=NOW - dt.timedelta(days=1),
    )
    r = verify_pkix(chain_der(leaf), "mx.example.org", extra_ca_files=[ca[1]])
    assert r.result_type == ResultType.CERTIFICATE_EXPIRED
    assert "expired" in r.detail


def test_not_yet_valid_leaf(ca: tuple[trustme.CA, Path]) -> None:
    leaf = ca[0].issue_cert("mx.example.org", not_before=NOW + dt.timedelta(days=1))
    r = verify_pkix(chain_der(leaf), "mx.example.org", extra_ca_files=[ca[1]])
    assert r.result_type == ResultType.CERTIFICATE_EXPIRED


def test_expired_wins_over_name_and_trust() -> None:
    other = trustme.CA()
    leaf = other.issue_cert(
        "other.example.net",
        not_before=NOW - dt.timedelta(days=30),
        not_after=NOW - dt.timedelta(days=1),
    )
    r = verify_pkix(chain_der(leaf), "mx.example.org", system_cas=False)
    assert r.result_type == ResultType.CERTIFICATE_EXPIRED


def test_name_mismatch_wins_over_trust() -> None:
    leaf = trustme.CA().issue_cert("other.example.net")
    r = verify_pkix(chain_der(leaf), "mx.example.org")
    assert r.result_type == ResultType.CERTIFICATE_HOST_MISMATCH


def test_untrusted(ca: tuple[trustme.CA, Path]) -> None:
    leaf = trustme.CA().issue_cert("mx.example.org")
    r = verify_pkix(chain_der(leaf), "mx.example.org", extra_ca_files=[ca[1]])
    assert r.result_type == ResultType.CERTIFICATE_NOT_TRUSTED
    assert "trusted" in r.detail


def test_self_signed() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "mx.example.org")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("mx.example.org")]), False)
        .sign(key, hashes.SHA256())
    )
    r = verify_pkix([cert.public_bytes(serialization.Encoding.DER)], "mx.example.org")
    assert r.result_type == ResultType.CERTIFICATE_NOT_TRUSTED


def test_expired_intermediate(ca: tuple[trustme.CA, Path]) -> None:
    # An intermediate that expired while the leaf is still valid.
    ca_obj, ca_file = ca
    root_cert = x509.load_pem_x509_certificate(ca_obj.cert_pem.bytes())
    root_key = serialization.load_pem_private_key(ca_obj.private_key_pem.bytes(), None)
    assert isinstance(root_key, ec.EllipticCurvePrivateKey)
    ikey = ec.generate_private_key(ec.SECP256R1())
    iname = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "old intermediate")])
    inter = (
        x509.CertificateBuilder()
        .subject_name(iname)
        .issuer_name(root_cert.subject)
        .public_key(ikey.public_key())
        .serial_number(2)
        .not_valid_before(NOW - dt.timedelta(days=60))
        .not_valid_after(NOW - dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ikey.public_key()), False)
        .sign(root_key, hashes.SHA256())
    )
    lkey = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(iname)
        .public_key(lkey.public_key())
        .serial_number(3)
        .not_valid_before(NOW - dt.timedelta(days=2))
        .not_valid_after(NOW + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("mx.example.org")]), True)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ikey.public_key()), False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .sign(ikey, hashes.SHA256())
    )
    der = [c.public_bytes(serialization.Encoding.DER) for c in (leaf, inter)]
    assert verify_pkix(
        der, "mx.example.org", extra_ca_files=[ca_file], now=NOW - dt.timedelta(days=1, hours=1)
    ).ok
    r = verify_pkix(der, "mx.example.org", extra_ca_files=[ca_file])
    assert r.result_type == ResultType.CERTIFICATE_EXPIRED, r


def test_client_only_eku_not_trusted(ca: tuple[trustme.CA, Path]) -> None:
    ca_obj, ca_file = ca
    root_key = serialization.load_pem_private_key(ca_obj.private_key_pem.bytes(), None)
    assert isinstance(root_key, ec.EllipticCurvePrivateKey)
    root_cert = x509.load_pem_x509_certificate(ca_obj.cert_pem.bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(root_cert.subject)
        .public_key(key.public_key())
        .serial_number(4)
        .not_valid_before(NOW - dt.timedelta(days=2))
        .not_valid_after(NOW + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("mx.example.org")]), True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), False
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), True)
        .sign(root_key, hashes.SHA256())
    )
    r = verify_pkix(
        [leaf.public_bytes(serialization.Encoding.DER)], "mx.example.org", extra_ca_files=[ca_file]
    )
    assert r.result_type == ResultType.CERTIFICATE_NOT_TRUSTED


def test_no_certificate_and_garbage() -> None:
    assert verify_pkix([], "mx.example.org").result_type == ResultType.CERTIFICATE_NOT_TRUSTED
    r = verify_pkix([b"not a certificate"], "mx.example.org")
    assert r.result_type == ResultType.CERTIFICATE_NOT_TRUSTED and "parse" in r.detail


def test_store_with_bad_extra_file(tmp_path: Path, ca: tuple[trustme.CA, Path]) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("garbage")
    store, count = load_store([bad, tmp_path / "missing.pem", ca[1]], system=False)
    assert store is not None and count == 1
    store, count = load_store([bad], system=False)
    assert store is None and count == 0
    leaf = ca[0].issue_cert("mx.example.org")
    r = verify_pkix(chain_der(leaf), "mx.example.org", extra_ca_files=[bad], system_cas=False)
    assert r.result_type == ResultType.CERTIFICATE_NOT_TRUSTED


def test_system_store_loads() -> None:
    files = system_ca_files()
    assert files, "no system CA bundle (install ca-certificates)"
    store, count = load_store([])
    assert store is not None and count > 50
