"""Async DNS lookups with DNSSEC status (AD bit), typed errors and EDE (RFC 8914)."""

from postel.dns.answer import Answer
from postel.dns.base import Resolver
from postel.dns.errors import (
    BogusError,
    CnameChainError,
    DNSError,
    NotFound,
    TemporaryError,
)

__all__ = [
    "Answer",
    "BogusError",
    "CnameChainError",
    "DNSError",
    "NotFound",
    "Resolver",
    "TemporaryError",
]
