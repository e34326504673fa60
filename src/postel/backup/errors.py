"""Errors of backup."""

from __future__ import annotations

from postel.errors import PostelError


class BackupError(PostelError):
    """The backup cannot be made at all (the message says what and where)."""


class DestinationExists(BackupError):
    """The destination exists; a backup never overwrites."""
