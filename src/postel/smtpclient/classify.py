"""Classify TLS handshake failures for RFC 8460 reports (docs/tls-reporting.md, Recording).

Everything that is not a certificate problem is a validation-failure with a
failure-reason-code naming what happened: a TLS alert received from the peer
("tls-remote-alert-40-handshake-failure"), an alert we sent because of what the
peer did ("tls-local-alert-70-protocol-version"), a timeout during the
handshake ("io-timeout-during-handshake") or the connection being closed
("connection-closed-during-handshake").
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass

from postel.tlsrpt.report import ResultType

REASON_TIMEOUT = "io-timeout-during-handshake"
REASON_CLOSED = "connection-closed-during-handshake"

# TLS alert descriptions (RFC 8446 §6, RFC 5246 §7.2).
ALERTS: dict[str, int] = {
    "close_notify": 0,
    "unexpected_message": 10,
    "bad_record_mac": 20,
    "decryption_failed": 21,
    "record_overflow": 22,
    "decompression_failure": 30,
    "handshake_failure": 40,
    "no_certificate": 41,
    "bad_certificate": 42,
    "unsupported_certificate": 43,
    "certificate_revoked": 44,
    "certificate_expired": 45,
    "certificate_unknown": 46,
    "illegal_parameter": 47,
    "unknown_ca": 48,
    "access_denied": 49,
    "decode_error": 50,
    "decrypt_error": 51,
    "export_restriction": 60,
    "protocol_version": 70,
    "insufficient_security": 71,
    "internal_error": 80,
    "inappropriate_fallback": 86,
    "user_canceled": 90,
    "no_renegotiation": 100,
    "missing_extension": 109,
    "unsupported_extension": 110,
    "certificate_unobtainable": 111,
    "unrecognized_name": 112,
    "bad_certificate_status_response": 113,
    "bad_certificate_hash_value": 114,
    "unknown_psk_identity": 115,
    "certificate_required": 116,
    "no_application_protocol": 120,
}

# OpenSSL reason codes for failures detected locally, and the alert they cause.
_LOCAL: dict[str, str] = {
    "WRONG_VERSION_NUMBER": "protocol_version",
    "UNSUPPORTED_PROTOCOL": "protocol_version",
    "NO_PROTOCOLS_AVAILABLE": "protocol_version",
    "VERSION_TOO_LOW": "protocol_version",
    "VERSION_TOO_HIGH": "protocol_version",
    "NO_SHARED_CIPHER": "handshake_failure",
    "NO_CIPHERS_AVAILABLE": "handshake_failure",
    "NO_SUITABLE_SIGNATURE_ALGORITHM": "handshake_failure",
    "WRONG_CIPHER_RETURNED": "illegal_parameter",
    "BAD_ECPOINT": "illegal_parameter",
    "DH_KEY_TOO_SMALL": "insufficient_security",
    "EE_KEY_TOO_SMALL": "insufficient_security",
    "CA_KEY_TOO_SMALL": "insufficient_security",
    "CA_MD_TOO_WEAK": "insufficient_security",
    "UNEXPECTED_MESSAGE": "unexpected_message",
    "UNEXPECTED_RECORD": "unexpected_message",
    "BAD_RECORD_MAC": "bad_record_mac",
    "DECRYPTION_FAILED_OR_BAD_RECORD_MAC": "bad_record_mac",
    "RECORD_LENGTH_MISMATCH": "record_overflow",
    "PACKET_LENGTH_TOO_LONG": "record_overflow",
    "DATA_LENGTH_TOO_LONG": "record_overflow",
    "ENCRYPTED_LENGTH_TOO_LONG": "record_overflow",
    "LENGTH_MISMATCH": "decode_error",
    "BAD_PACKET_LENGTH": "decode_error",
    "BAD_SIGNATURE": "decrypt_error",
    "DECRYPTION_FAILED": "decrypt_error",
    "CERTIFICATE_VERIFY_FAILED": "bad_certificate",
    "MISSING_SIGALGS_EXTENSION": "missing_extension",
}

_REMOTE_PREFIXES = ("SSLV3_ALERT_", "TLSV1_ALERT_", "TLSV13_ALERT_", "TLSV1_")


@dataclass(frozen=True)
class TLSFailure:
    """A classified TLS failure: RFC 8460 result type, reason code and a detail text."""

    result_type: ResultType
    reason: str
    detail: str


def alert_reason(side: str, name: str) -> str:
    """``tls-<side>-alert-<code>-<name>``, e.g. tls-remote-alert-40-handshake-failure."""
    code = ALERTS.get(name)
    words = name.replace("_", "-")
    return f"tls-{side}-alert-{code}-{words}" if code is not None else f"tls-{side}-{words}"


def remote_alert_name(reason: str | None) -> str | None:
    """The alert name of an OpenSSL reason for a received alert, else None."""
    if not reason:
        return None
    for prefix in _REMOTE_PREFIXES:
        if reason.startswith(prefix):
            name = reason[len(prefix) :].lower()
            if name in ALERTS:
                return name
    return None


def _closed(exc: BaseException) -> bool:
    return isinstance(
        exc,
        (
            ssl.SSLEOFError,
            ssl.SSLZeroReturnError,
            ConnectionResetError,
            BrokenPipeError,
            asyncio.IncompleteReadError,
            EOFError,
        ),
    )


def is_timeout(exc: BaseException) -> bool:
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return True
    # asyncio aborts a slow handshake with ConnectionAbortedError("SSL handshake
    # is taking longer than N seconds").
    return isinstance(exc, ConnectionAbortedError) and "taking longer" in str(exc)


def classify_tls_error(exc: BaseException) -> TLSFailure:
    """Classify an exception from a TLS handshake (or the first read after it)."""
    vf = ResultType.VALIDATION_FAILURE
    if is_timeout(exc):
        return TLSFailure(vf, REASON_TIMEOUT, "timeout during TLS handshake")
    if _closed(exc):
        return TLSFailure(vf, REASON_CLOSED, f"connection closed during TLS handshake ({exc!r})")
    if isinstance(exc, ssl.SSLError):
        reason = getattr(exc, "reason", None)
        remote = remote_alert_name(reason)
        if remote is not None:
            if remote == "close_notify":
                return TLSFailure(vf, REASON_CLOSED, f"peer closed TLS during handshake: {exc}")
            return TLSFailure(vf, alert_reason("remote", remote), f"remote TLS alert: {exc}")
        if reason in ("UNEXPECTED_EOF_WHILE_READING", "SHUTDOWN_WHILE_IN_INIT"):
            return TLSFailure(vf, REASON_CLOSED, f"connection closed during TLS handshake: {exc}")
        if reason in _LOCAL:
            return TLSFailure(vf, alert_reason("local", _LOCAL[reason]), f"TLS error: {exc}")
        code = (reason or "unknown").lower().replace("_", "-")
        return TLSFailure(vf, f"tls-local-error-{code}", f"TLS error: {exc}")
    if isinstance(exc, ConnectionError | OSError):
        return TLSFailure(vf, REASON_CLOSED, f"connection error during TLS handshake: {exc}")
    return TLSFailure(vf, "tls-error", f"TLS handshake failed: {exc!r}")
