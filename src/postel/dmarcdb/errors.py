"""Errors of the received-DMARC-report database; messages name the database file."""

from __future__ import annotations


class DMARCDBError(Exception):
    """Base of errors raised by postel.dmarcdb."""


class InvalidArgument(DMARCDBError):
    """A query was given a value it cannot use (e.g. a bad limit)."""
