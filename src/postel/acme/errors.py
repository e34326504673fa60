"""Errors of postel.acme."""

from __future__ import annotations


class ACMEError(Exception):
    """An order failed (the message says which names, which CA and why)."""


class TemporaryACMEError(ACMEError):
    """The CA could not be reached or answered with a server error: retried later."""


class ChallengeFailed(ACMEError):
    """The CA could not validate a challenge for a name (RFC 8555 §7.5.1)."""
