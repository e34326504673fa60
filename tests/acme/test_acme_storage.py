"""Host keys and certificates in the data directory (postel.acme.storage)."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from postel.acme.names import certificate_names
from postel.acme.storage import CertStore, listener_pairs


def test_keys_made_once_and_kept(tmp_path: Path) -> None:
    store = CertStore(tmp_path)
    store.ensure(["mail.example.org"])
    assert isinstance(store.host_key("ecdsa"), ec.EllipticCurvePrivateKey)
    rsa_key = store.host_key("rsa")
    assert isinstance(rsa_key, rsa.RSAPrivateKey) and rsa_key.key_size == 2048
    keys = {k: store.key_file(k).read_bytes() for k in ("ecdsa", "rsa")}
    store.cert_file("ecdsa").unlink()
    store.ensure(["mail.example.org"])
    assert {k: store.key_file(k).read_bytes() for k in ("ecdsa", "rsa")} == keys
    assert store.chain("ecdsa")[0].public_key() == store.host_key("ecdsa").public_key()
    assert store.key_file("rsa").stat().st_mode & 0o077 == 0


def test_account_per_directory(tmp_path: Path) -> None:
    store = CertStore(tmp_path)
    assert store.account_uri("https://ca/dir") is None
    store.save_account("https://ca/dir", "https://ca/acct/1", ["ca.test"])
    assert store.account_uri("https://ca/dir") == "https://ca/acct/1"
    assert store.account_uri("https://other/dir") is None
    assert store.account_key().public_key() == store.account_key().public_key()  # made once


def test_listener_pairs(tmp_path: Path) -> None:
    own = listener_pairs("c.pem", "k.pem", True, lambda p: tmp_path / p, tmp_path)
    assert own == [(tmp_path / "c.pem", tmp_path / "k.pem")]
    acme = listener_pairs("", "", True, lambda p: tmp_path / p, tmp_path / "data")
    assert acme == CertStore(tmp_path / "data").pairs()
    assert listener_pairs("", "", False, lambda p: tmp_path / p, tmp_path) == []


def test_certificate_names() -> None:
    assert certificate_names("Mail.Example.org.", ["example.org", "b.test"]) == [
        "mail.example.org",
        "mta-sts.b.test",
        "autoconfig.b.test",
        "mta-sts.example.org",
        "autoconfig.example.org",
    ]
