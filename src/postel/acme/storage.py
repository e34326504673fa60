"""Keys and certificates of postel.acme in the data directory.

    data/acme/account.key    the ACME account key (EC P-256, PEM)
    data/acme/account.json   {"directory": url, "uri": account URL} of the CA in use
    data/certs/<kind>.key    the host keys, kind "ecdsa" (P-256) and "rsa" (2048)
    data/certs/<kind>.crt    their certificate chains (self-signed until the CA's)

The host keys are made once and kept across renewals, so the TLSA 3 1 1
records of the host do not change (RFC 7671 §8.1).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from postel.fsutil import write_atomic
from postel.hostkeys import HostKey, generate_key, generate_rsa_key, key_pem, self_signed_cert

KINDS: tuple[str, ...] = ("ecdsa", "rsa")
ACME_DIR = "acme"
CERTS_DIR = "certs"
PLACEHOLDER_DAYS = 90


def _new_key(kind: str) -> HostKey:
    return generate_key() if kind == "ecdsa" else generate_rsa_key()


def load_host_key(path: Path) -> HostKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
        raise ValueError(f"{path}: not an ECDSA or RSA key")
    return key


@dataclass(frozen=True)
class CertStore:
    root: Path  # the data directory

    @property
    def acme_dir(self) -> Path:
        return self.root / ACME_DIR

    @property
    def certs_dir(self) -> Path:
        return self.root / CERTS_DIR

    @property
    def account_key_file(self) -> Path:
        return self.acme_dir / "account.key"

    @property
    def account_file(self) -> Path:
        return self.acme_dir / "account.json"

    def key_file(self, kind: str) -> Path:
        return self.certs_dir / f"{kind}.key"

    def cert_file(self, kind: str) -> Path:
        return self.certs_dir / f"{kind}.crt"

    def pairs(self) -> list[tuple[Path, Path]]:
        """(certificate, key) of every host key, ECDSA first."""
        return [(self.cert_file(k), self.key_file(k)) for k in KINDS]

    def _tmp(self) -> Path:
        tmp = self.root / "tmp"
        tmp.mkdir(parents=True, exist_ok=True, mode=0o700)
        return tmp

    def ensure(self, names: list[str]) -> None:
        """Make missing host keys, and a self-signed certificate for *names* where
        none is yet, so the listeners can start before the CA's certificate."""
        for d in (self.acme_dir, self.certs_dir):
            d.mkdir(parents=True, exist_ok=True, mode=0o700)
        for kind in KINDS:
            key_path = self.key_file(kind)
            if not key_path.exists():
                write_atomic(key_path, key_pem(_new_key(kind)), tmpdir=self._tmp())
            if not self.cert_file(kind).exists():
                cert = self_signed_cert(load_host_key(key_path), names, days=PLACEHOLDER_DAYS)
                self.write_chain(kind, cert.public_bytes(serialization.Encoding.PEM))

    def host_key(self, kind: str) -> HostKey:
        return load_host_key(self.key_file(kind))

    def chain(self, kind: str) -> list[x509.Certificate]:
        return x509.load_pem_x509_certificates(self.cert_file(kind).read_bytes())

    def write_chain(self, kind: str, pem: bytes) -> None:
        """Replace the chain at once (rename): readers see the old or the new one."""
        write_atomic(self.cert_file(kind), pem, tmpdir=self._tmp(), mode=0o644)

    def account_key(self) -> ec.EllipticCurvePrivateKey:
        path = self.account_key_file
        if not path.exists():
            self.acme_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            write_atomic(path, key_pem(generate_key()), tmpdir=self._tmp())
        key = load_host_key(path)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{path}: the ACME account key must be an EC P-256 key")
        return key

    def account_uri(self, directory: str) -> str | None:
        """The account URL registered at *directory*, if any."""
        try:
            raw = json.loads(self.account_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(raw, dict) or raw.get("directory") != directory:
            return None
        uri = raw.get("uri")
        return uri if isinstance(uri, str) else None

    def save_account(self, directory: str, uri: str) -> None:
        data = json.dumps({"directory": directory, "uri": uri, "saved": _now()}).encode()
        write_atomic(self.account_file, data, tmpdir=self._tmp())


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def listener_pairs(
    lst_cert: str, lst_key: str, acme_enabled: bool, resolve: Callable[[str], Path], data: Path
) -> list[tuple[Path, Path]]:
    """The (chain, key) files a listener serves: its own files when configured,
    else the ACME-managed host keys' when ACME is enabled, else none."""
    if lst_cert and lst_key:
        return [(resolve(lst_cert), resolve(lst_key))]
    if acme_enabled:
        return CertStore(data).pairs()
    return []
