"""Test network for integration tests: knot (signed `test.` TLD), unbound
(validating, with EDE), an HTTPS server with a test CA, all on loopback.
See README.md."""

from .https import CERT_KINDS, Request
from .knot import MODES, TLD
from .net import DEFAULT_RECORDS, DEFAULT_ZONES, TestNet, TestNetError

__all__ = [
    "CERT_KINDS",
    "DEFAULT_RECORDS",
    "DEFAULT_ZONES",
    "MODES",
    "TLD",
    "Request",
    "TestNet",
    "TestNetError",
]
