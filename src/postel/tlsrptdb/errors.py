"""Errors of the received-TLS-report database; messages name the database file."""

from __future__ import annotations

from postel.errors import PostelError


class TLSRPTDBError(PostelError):
    """Base of errors raised by postel.tlsrptdb."""


class TLSRPTDBArgumentError(TLSRPTDBError):
    """A query or insert was given a value it cannot use (e.g. a bad kind or limit)."""
