"""Certificates from an ACME CA (RFC 8555): TLS-ALPN-01 (RFC 8737) on the HTTPS
listeners or HTTP-01, renewal at two thirds of the lifetime or in the CA's
ARI window (RFC 9773), host keys kept across renewals for DANE (RFC 7671 §8.1).
"""

from postel.acme.challenges import Challenges
from postel.acme.errors import ACMEError, TemporaryACMEError
from postel.acme.names import certificate_names
from postel.acme.storage import CertStore

__all__ = [
    "ACMEError",
    "CertStore",
    "Challenges",
    "TemporaryACMEError",
    "certificate_names",
]
