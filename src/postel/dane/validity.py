"""A certificate's validity period (RFC 5280 §4.1.2.5), for DANE and PKIX checks."""

from __future__ import annotations

from datetime import datetime

from cryptography import x509


def date_problem(cert: x509.Certificate, when: datetime) -> str | None:
    """Why *cert* is not valid at *when* (expired, not yet valid); None when it is."""
    if when > cert.not_valid_after_utc:
        return f"expired at {cert.not_valid_after_utc.isoformat()}"
    if when < cert.not_valid_before_utc:
        return f"not valid before {cert.not_valid_before_utc.isoformat()}"
    return None
