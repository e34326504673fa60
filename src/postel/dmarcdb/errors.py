"""Errors of the received-DMARC-report database; messages name the database file."""

from __future__ import annotations

from postel.errors import PostelError


class DMARCDBError(PostelError):
    """Base of errors raised by postel.dmarcdb."""


class DMARCDBArgumentError(DMARCDBError):
    """A query was given a value it cannot use (e.g. a bad limit)."""
