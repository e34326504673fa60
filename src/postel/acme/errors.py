"""Errors of postel.acme."""

from __future__ import annotations

from postel.errors import PostelError


class ACMEError(PostelError):
    """An order failed (the message says which names, which CA and why)."""


class TemporaryACMEError(ACMEError):
    """The CA could not be reached or answered with a server error: retried later."""
