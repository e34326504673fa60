"""Errors of the MTA-STS policy cache; messages name the database file."""

from __future__ import annotations


class MTASTSDBError(Exception):
    """Base of errors raised by postel.mtastsdb."""


class CorruptRow(MTASTSDBError):
    """A stored row could not be read back (bad JSON or timestamp)."""
