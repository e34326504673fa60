"""PKIX (WebPKI) verification of a server certificate chain for reporting and
enforcement, with RFC 8460 §4.3 result types.

The TLS handshake runs without verification; this module evaluates the chain
the server sent with cryptography.x509.verification against the system trust
store plus extra CA files. Failures are classified in the order a certificate
is judged (docs/tls-reporting.md): expired, then name mismatch, then
anything else (certificate-not-trusted).
"""

from __future__ import annotations

import ipaddress
import logging
import ssl
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509 import DNSName, IPAddress
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    Policy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from postel.dane.names import matching_name
from postel.dane.validity import date_problem
from postel.tlsrpt.report import ResultType

_log = logging.getLogger("postel.smtpclient")

DEBIAN_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


@dataclass(frozen=True)
class PKIXResult:
    """Outcome of PKIX verification: ``ok``, or a result type and a detail text."""

    ok: bool
    result_type: ResultType | None = None
    detail: str = ""


def system_ca_files() -> list[Path]:
    """The PEM bundle of the system trust store (OpenSSL default file, Debian bundle)."""
    paths = ssl.get_default_verify_paths()
    for p in (paths.cafile, paths.openssl_cafile, str(DEBIAN_BUNDLE)):
        if p and Path(p).is_file():
            return [Path(p)]
    return []


_store_lock = threading.Lock()
_store_cache: dict[tuple[tuple[str, float, int], ...], tuple[Store | None, int]] = {}


def _cache_key(files: Sequence[Path]) -> tuple[tuple[str, float, int], ...]:
    key = []
    for f in files:
        try:
            st = f.stat()
            key.append((str(f), st.st_mtime, st.st_size))
        except OSError:
            key.append((str(f), 0.0, -1))
    return tuple(key)


def load_store(
    extra_ca_files: Sequence[Path] = (), *, system: bool = True
) -> tuple[Store | None, int]:
    """A trust store of the system CAs and ``extra_ca_files`` (None if empty), and its size.

    Cached by file name, mtime and size. Unreadable files are logged and skipped:
    a broken extra CA file must not stop delivery (it only loses trust).
    """
    files = [*(system_ca_files() if system else []), *(Path(f) for f in extra_ca_files)]
    key = _cache_key(files)
    with _store_lock:
        hit = _store_cache.get(key)
        if hit is not None:
            return hit
    certs: list[x509.Certificate] = []
    for f in files:
        try:
            with warnings.catch_warnings():
                # System bundles hold old roots with negative serial numbers.
                warnings.simplefilter("ignore", CryptographyDeprecationWarning)
                certs.extend(x509.load_pem_x509_certificates(f.read_bytes()))
        except (OSError, ValueError) as exc:
            _log.warning("cannot load CA file", extra={"file": str(f), "err": str(exc)})
    result = (Store(certs) if certs else None, len(certs))
    with _store_lock:
        _store_cache.clear()
        _store_cache[key] = result
    return result


def _eku_server_auth(
    _policy: Policy, _cert: x509.Certificate, eku: x509.ExtendedKeyUsage | None
) -> None:
    if eku is None:
        return
    if ExtendedKeyUsageOID.SERVER_AUTH in eku or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in eku:
        return
    raise ValueError("extended key usage does not include serverAuth")


def _ee_policy() -> ExtensionPolicy:
    # WebPKI defaults, but tolerant about the criticality of subjectAltName and
    # extendedKeyUsage, as deployed mail servers (and many private CAs) mark
    # them critical; the serverAuth requirement itself is kept.
    return (
        ExtensionPolicy.webpki_defaults_ee()
        .require_present(x509.SubjectAlternativeName, Criticality.AGNOSTIC, None)
        .may_be_present(x509.ExtendedKeyUsage, Criticality.AGNOSTIC, _eku_server_auth)
    )


def _subject(name: str) -> DNSName | IPAddress:
    try:
        return IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return DNSName(name)


def verify_pkix(
    chain: Sequence[bytes],
    name: str,
    *,
    extra_ca_files: Sequence[Path] = (),
    now: datetime | None = None,
    system_cas: bool = True,
) -> PKIXResult:
    """Verify a DER chain (leaf first, as the server sent it) for ``name``.

    Returns ok, or certificate-expired / certificate-host-mismatch /
    certificate-not-trusted (RFC 8460 §4.3.2) with a detail text.
    """
    when = now if now is not None else datetime.now(UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    name = name.rstrip(".").lower()
    if not chain:
        return PKIXResult(False, ResultType.CERTIFICATE_NOT_TRUSTED, "server sent no certificate")
    try:
        certs = [x509.load_der_x509_certificate(bytes(c)) for c in chain]
    except ValueError as exc:
        return PKIXResult(
            False, ResultType.CERTIFICATE_NOT_TRUSTED, f"cannot parse server certificate: {exc}"
        )
    leaf = certs[0]
    # The leaf's own dates and name first, as other implementations judge them
    # before path building (docs/tls-reporting.md, classification order).
    problem = date_problem(leaf, when)
    if problem:
        return PKIXResult(False, ResultType.CERTIFICATE_EXPIRED, f"server certificate {problem}")
    if matching_name(leaf, [name]) is None and not _is_ip(name):
        return PKIXResult(
            False,
            ResultType.CERTIFICATE_HOST_MISMATCH,
            f"server certificate is not valid for {name}",
        )
    store, count = load_store(extra_ca_files, system=system_cas)
    if store is None:
        return PKIXResult(False, ResultType.CERTIFICATE_NOT_TRUSTED, "no trusted CAs configured")
    try:
        verifier = (
            PolicyBuilder()
            .store(store)
            .time(when)
            .extension_policies(
                ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=_ee_policy()
            )
            .build_server_verifier(_subject(name))
        )
        verifier.verify(leaf, certs[1:])
    except VerificationError as exc:
        return _classify(str(exc), count)
    except ValueError as exc:
        return PKIXResult(False, ResultType.CERTIFICATE_NOT_TRUSTED, f"invalid name {name}: {exc}")
    return PKIXResult(True)


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _classify(message: str, store_size: int) -> PKIXResult:
    text = message.removeprefix("validation failed: ")
    text = text.split(" (encountered processing", 1)[0]
    low = text.lower()
    if "not valid at validation time" in low or "expired" in low:
        return PKIXResult(False, ResultType.CERTIFICATE_EXPIRED, f"chain: {text}")
    if "subjectaltname" in low and "match" in low:
        return PKIXResult(False, ResultType.CERTIFICATE_HOST_MISMATCH, text)
    if "candidates exhausted" in low:
        text = f"no path to a trusted CA ({store_size} trust anchors)"
    return PKIXResult(False, ResultType.CERTIFICATE_NOT_TRUSTED, text)
