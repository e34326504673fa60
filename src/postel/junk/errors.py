"""Errors of the junk filter."""

from __future__ import annotations


class JunkError(Exception):
    """Base of the junk filter's errors; the message says what and where."""
