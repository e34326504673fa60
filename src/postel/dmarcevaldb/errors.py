"""Errors of the DMARC evaluation database; messages name the database file."""

from __future__ import annotations

from postel.errors import InputError, PostelError


class DMARCEvalDBError(PostelError):
    """Base of errors raised by postel.dmarcevaldb (also: the database is closed)."""


class BadEvaluation(DMARCEvalDBError, InputError):
    """A stored evaluation cannot be read back (``where`` names the row)."""
