"""Errors of verifydata."""

from __future__ import annotations

from postel.errors import PostelError


class VerifyError(PostelError):
    """verifydata could not run at all (not: the data has problems)."""


class NotADataDir(VerifyError):
    """The given directory is not a postel data directory."""
