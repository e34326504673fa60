"""Errors of the DMARC evaluation database; messages name the database file."""

from __future__ import annotations


class DMARCEvalDBError(Exception):
    """Base of errors raised by postel.dmarcevaldb."""


class BadEvaluation(DMARCEvalDBError):
    """A stored evaluation cannot be read back (``where`` names the row)."""
