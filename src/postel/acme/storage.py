"""Keys and certificates of postel.acme in the data directory.

    data/acme/account.key    the ACME account key (EC P-256, PEM)
    data/acme/account.json   {"directory": url, "uri": account URL} of the CA in use
    data/certs/<kind>.key    the host keys, kind "ecdsa" (P-256) and "rsa" (2048)
    data/certs/<kind>.crt    their certificate chains (self-signed until the CA's)

The host keys are made once and kept across renewals, so the TLSA 3 1 1
records of the host do not change (RFC 7671 §8.1).

:class:`CertStorage` is where they are kept: :class:`CertStore`, the files
of the data directory, or on the PostgreSQL store postel.pg.acmestore, which
keeps them in the database for all nodes and writes each node's files (the
listeners load files: postel.tlsreload).
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from postel.dane import tlsa_for
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


class CertStorage(Protocol):
    """The account and host keys with their certificates, as the renewal loop
    (postel.acme.manager) sees them: it works on :attr:`files` (the node's
    copy the listeners load), takes in other nodes' changes with :meth:`pull`
    and shares its own with :meth:`publish`."""

    @property
    def files(self) -> CertStore: ...

    async def setup(self, names: list[str]) -> None:
        """Keys and placeholder certificates ready (shared ones where there
        are), before any listener loads them."""
        ...

    async def pull(self) -> bool:
        """Copy what other nodes changed into :attr:`files`; True if anything changed."""
        ...

    async def publish(self) -> None:
        """Share :attr:`files` after an order or a key rollover."""
        ...

    def exclusive(self) -> AbstractAsyncContextManager[bool]:
        """Held around an order: True when this node may order now, False
        while another node does."""
        ...

    async def follow(self, on_change: Callable[[], None]) -> None:
        """Until cancelled, take in other nodes' changes as they come and call
        *on_change* after each; returns at once when there are no other nodes."""
        ...


@asynccontextmanager
async def _granted() -> AsyncIterator[bool]:
    yield True


@dataclass(frozen=True)
class CertStore:
    """CertStorage in the data directory's files: one node, nothing to share."""

    root: Path  # the data directory

    @property
    def files(self) -> CertStore:
        return self

    async def setup(self, names: list[str]) -> None:
        self.ensure(names)

    async def pull(self) -> bool:
        return False

    async def publish(self) -> None:
        return None

    def exclusive(self) -> AbstractAsyncContextManager[bool]:
        return _granted()

    async def follow(self, on_change: Callable[[], None]) -> None:
        return None

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

    # DANE key rollover (RFC 7671 §8.1): the next key waits beside the current
    # one until its TLSA record is published, then replaces it.
    def next_key_file(self, kind: str) -> Path:
        return self.certs_dir / f"{kind}.next.key"

    def start_rollover(self, kind: str) -> bool:
        """Make the next key of *kind*; False if one is waiting already."""
        path = self.next_key_file(kind)
        if path.exists():
            return False
        self.certs_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomic(path, key_pem(_new_key(kind)), tmpdir=self._tmp())
        return True

    def pending_rollovers(self) -> list[str]:
        return [k for k in KINDS if self.next_key_file(k).exists()]

    def next_key(self, kind: str) -> HostKey:
        return load_host_key(self.next_key_file(kind))

    def promote(self, kind: str, chain_pem: bytes) -> None:
        """The next key, with its new chain, becomes the key of *kind*. Two renames:
        a listener reloading between them fails to load the pair, keeps the old
        context and loads the new pair at its next look (postel.tlsreload)."""
        staged = self.certs_dir / f"{kind}.next.crt"
        write_atomic(staged, chain_pem, tmpdir=self._tmp(), mode=0o644)
        os.replace(self.next_key_file(kind), self.key_file(kind))
        os.replace(staged, self.cert_file(kind))

    def tlsa_digests(self) -> list[tuple[str, str, bool]]:
        """(kind, hex SHA-256 of the SPKI, is a next key) of every host key present:
        the TLSA 3 1 1 data (RFC 7671 §5.1)."""
        out: list[tuple[str, str, bool]] = []
        for kind in KINDS:
            for path, is_next in ((self.key_file(kind), False), (self.next_key_file(kind), True)):
                if path.exists():
                    out.append((kind, spki_sha256(load_host_key(path)), is_next))
        return out

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

    def _account(self, directory: str) -> dict[str, object]:
        try:
            raw = json.loads(self.account_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(raw, dict) or raw.get("directory") != directory:
            return {}
        return raw

    def account_uri(self, directory: str) -> str | None:
        """The account URL registered at *directory*, if any."""
        uri = self._account(directory).get("uri")
        return uri if isinstance(uri, str) else None

    def caa_identities(self, directory: str) -> list[str]:
        """The CA's CAA issuer domains, as its directory said (RFC 8555 §7.1.1)."""
        ids = self._account(directory).get("caa_identities")
        return [str(i) for i in ids] if isinstance(ids, list) else []

    def save_account(self, directory: str, uri: str, caa_identities: list[str]) -> None:
        data = {"directory": directory, "uri": uri, "caa_identities": caa_identities}
        if self._account(directory) == data:
            return
        write_atomic(self.account_file, json.dumps(data).encode(), tmpdir=self._tmp())


def spki_sha256(key: HostKey) -> str:
    return tlsa_for(key.public_key()).data.hex()


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
