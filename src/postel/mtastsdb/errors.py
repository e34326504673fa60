"""Errors of the MTA-STS policy cache; messages name the database file."""

from __future__ import annotations

from postel.errors import InputError


class CorruptRow(InputError):
    """A stored row could not be read back (bad JSON or timestamp)."""
