"""Errors of the privilege drop."""

from __future__ import annotations

from postel.errors import PostelError


class PrivDropError(PostelError):
    """The configured user cannot be run as: one line naming it and what to do."""
