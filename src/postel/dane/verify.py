"""Verify a server certificate chain against TLSA records (RFC 7671 §5, RFC 7672 §3).

DANE-EE(3): the leaf certificate or its public key must match; names and
validity dates are not checked (RFC 7672 §3.1.1). DANE-TA(2): the trust anchor
is the certificate of a "2 0 0" record, or the first chain certificate matching
the record (a "2 1 0" key also anchors directly). The leaf must chain to it
with valid signatures, every certificate on the path must be valid at ``now``,
and the leaf must carry one of the allowed names (RFC 7672 §3.2).

The path is verified here with cryptography primitives rather than
cryptography.x509.verification: DANE-TA anchors are often intermediates, not
self-signed roots, and failures must be classified exactly for RFC 8460.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from postel.dane.names import matching_name
from postel.dane.record import TLSARecord, Usage, spki_der
from postel.dane.validity import date_problem

_log = logging.getLogger("postel.dane")

# RFC 8460 §4.3 result types and failure reason code used for DANE.
RESULT_VALIDATION_FAILURE = "validation-failure"
RESULT_TLSA_INVALID = "tlsa-invalid"
RESULT_CERTIFICATE_EXPIRED = "certificate-expired"
RESULT_HOST_MISMATCH = "certificate-host-mismatch"
REASON_DANE_NO_MATCH = "dane-no-match"

MAX_PATH_LENGTH = 10


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of DANE verification of one server certificate chain.

    On success ``record`` is the TLSA record that matched (and for DANE-TA,
    ``name`` the allowed name the leaf is valid for). On failure
    ``result_type`` is the RFC 8460 result-type, ``failure_reason`` the
    failure-reason-code where one applies ("dane-no-match"), and ``detail``
    says what went wrong in words.
    """

    matched: bool
    record: TLSARecord | None = None
    name: str | None = None
    result_type: str | None = None
    failure_reason: str | None = None
    detail: str = ""
    usable_records: tuple[TLSARecord, ...] = field(default=())


@dataclass(frozen=True)
class _Cert:
    der: bytes
    cert: x509.Certificate | None
    spki: bytes | None

    @classmethod
    def load(cls, item: bytes | x509.Certificate) -> _Cert:
        if isinstance(item, x509.Certificate):
            return cls(item.public_bytes(serialization.Encoding.DER), item, spki_der(item))
        der = bytes(item)
        try:
            cert = x509.load_der_x509_certificate(der)
            return cls(der, cert, spki_der(cert))
        except (ValueError, TypeError, UnsupportedAlgorithm):
            return cls(der, None, None)


@dataclass(frozen=True)
class _Failure:
    rank: int  # higher = more specific, reported in preference
    result_type: str
    reason: str | None
    detail: str
    record: TLSARecord


def verify_chain(
    chain: Sequence[bytes | x509.Certificate],
    records: Iterable[TLSARecord],
    allowed_names: Sequence[str] = (),
    now: datetime | None = None,
    log: logging.Logger | None = None,
) -> VerifyResult:
    """Verify a peer chain (leaf first, DER or parsed) against TLSA records.

    ``allowed_names`` are the reference identifiers for DANE-TA name checks
    (see postel.dane.allowed.allowed_names); ``now`` defaults to the current time.
    """
    log = log or _log
    records = list(records)
    usable = tuple(r for r in records if r.usable)
    if not usable:
        reasons = "; ".join(f"{r}: {r.unusable_reason()}" for r in records) or "no records"
        return VerifyResult(
            matched=False,
            result_type=RESULT_TLSA_INVALID,
            detail=f"no usable TLSA records ({reasons})",
        )
    if not chain:
        return VerifyResult(
            matched=False,
            result_type=RESULT_VALIDATION_FAILURE,
            failure_reason=REASON_DANE_NO_MATCH,
            detail="server sent no certificate",
            usable_records=usable,
        )
    certs = [_Cert.load(c) for c in chain]
    leaf = certs[0]
    when = now if now is not None else datetime.now(UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)

    # RFC 7672 §3.1.1: DANE-EE matches the leaf only; no name or date checks.
    for rec in usable:
        if rec.usage == Usage.DANE_EE and rec.matches_der(leaf.der, leaf.spki):
            log.debug("dane-ee record matched", extra={"tlsa": rec.text()})
            return VerifyResult(matched=True, record=rec, usable_records=usable)

    failures: list[_Failure] = []
    for rec in usable:
        if rec.usage != Usage.DANE_TA:
            continue
        outcome = _verify_ta(rec, certs, allowed_names, when)
        if isinstance(outcome, str):
            log.debug("dane-ta record matched", extra={"tlsa": rec.text(), "cert_name": outcome})
            return VerifyResult(matched=True, record=rec, name=outcome, usable_records=usable)
        failures.append(outcome)

    best = max(failures, key=lambda f: f.rank, default=None)
    if best is None or best.rank == 0:
        detail = "no TLSA record matched the server certificate chain"
        return VerifyResult(
            matched=False,
            result_type=RESULT_VALIDATION_FAILURE,
            failure_reason=REASON_DANE_NO_MATCH,
            detail=detail,
            usable_records=usable,
        )
    return VerifyResult(
        matched=False,
        record=best.record,
        result_type=best.result_type,
        failure_reason=best.reason,
        detail=best.detail,
        usable_records=usable,
    )


def _verify_ta(
    rec: TLSARecord, certs: list[_Cert], allowed: Sequence[str], when: datetime
) -> str | _Failure:
    """Verify one DANE-TA record: the matched name, or a failure."""
    leaf = certs[0]
    if leaf.cert is None:
        return _Failure(
            0,
            RESULT_VALIDATION_FAILURE,
            REASON_DANE_NO_MATCH,
            "server certificate could not be parsed",
            rec,
        )
    anchor_cert = rec.anchor_certificate()
    anchor_key = rec.anchor_public_key()
    pool = [c.cert for c in certs[1:] if c.cert is not None]
    path = _find_path(leaf.cert, pool, rec, anchor_cert, anchor_key)
    if path is None:
        anchored = anchor_cert is not None or anchor_key is not None
        anchored = anchored or any(rec.matches_der(c.der, c.spki) for c in certs)
        return _Failure(
            1 if anchored else 0,
            RESULT_VALIDATION_FAILURE,
            REASON_DANE_NO_MATCH,
            f"TLSA {rec}: the server certificate does not chain to the trust anchor",
            rec,
        )
    for depth, cert in enumerate(path):
        problem = date_problem(cert, when)
        if problem:
            what = (
                "server certificate"
                if depth == 0
                else f"chain certificate {cert.subject.rfc4514_string()!r}"
            )
            return _Failure(2, RESULT_CERTIFICATE_EXPIRED, None, f"{what} {problem}", rec)
    name = matching_name(leaf.cert, allowed)
    if name is None:
        return _Failure(
            2,
            RESULT_HOST_MISMATCH,
            None,
            f"server certificate is not valid for any of {', '.join(allowed) or '(no names)'}",
            rec,
        )
    return name


def _find_path(
    leaf: x509.Certificate,
    pool: list[x509.Certificate],
    rec: TLSARecord,
    anchor_cert: x509.Certificate | None,
    anchor_key: PublicKeyTypes | None,
) -> list[x509.Certificate] | None:
    """Certificates from the leaf up to and including the trust anchor, or None.

    Depth-first over the presented certificates (servers may send them out of
    order); the first certificate matching the record ends the path. A bare key
    anchor ("2 1 0") ends the path at the certificate it signed.
    """

    def walk(path: list[x509.Certificate]) -> list[x509.Certificate] | None:
        current = path[-1]
        if rec.matches(current):
            return path
        # Issuers below the anchor sign len(path) - 1 intermediates (RFC 5280 §4.2.1.9).
        below = len(path) - 1
        if (
            anchor_cert is not None
            and _can_issue(anchor_cert, below)
            and _issued_by(current, anchor_cert)
        ):
            return [*path, anchor_cert]
        if anchor_key is not None and _signed_by_key(current, anchor_key):
            return path
        if len(path) >= MAX_PATH_LENGTH:
            return None
        for cand in pool:
            if any(cand is p for p in path) or not _can_issue(cand, below):
                continue
            if _issued_by(current, cand):
                found = walk([*path, cand])
                if found is not None:
                    return found
        return None

    return walk([leaf])


def _can_issue(cert: x509.Certificate, intermediates_below: int) -> bool:
    """Whether a certificate may act as issuer (RFC 5280 §4.2.1.3, §4.2.1.9)."""
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False
    except ValueError:
        return False
    if not bc.ca:
        return False
    if bc.path_length is not None and intermediates_below > bc.path_length:
        return False
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return True
    except ValueError:
        return False
    return bool(ku.key_cert_sign)


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _signed_by_key(cert: x509.Certificate, key: PublicKeyTypes) -> bool:
    """Whether ``cert`` carries a valid signature by a bare public key."""
    sig, tbs = cert.signature, cert.tbs_certificate_bytes
    try:
        algo = cert.signature_hash_algorithm
        params = cert.signature_algorithm_parameters
        if isinstance(key, rsa.RSAPublicKey):
            if not isinstance(params, padding.PKCS1v15 | padding.PSS) or not isinstance(
                algo, hashes.HashAlgorithm
            ):
                return False
            key.verify(sig, tbs, params, algo)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            if not isinstance(params, ec.ECDSA):
                return False
            key.verify(sig, tbs, params)
        elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            key.verify(sig, tbs)
        elif isinstance(key, dsa.DSAPublicKey):
            if not isinstance(algo, hashes.HashAlgorithm):
                return False
            key.verify(sig, tbs, algo)
        else:
            return False
    except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError):
        return False
    return True
