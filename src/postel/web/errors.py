"""Errors of the web listeners."""

from __future__ import annotations

from postel.errors import PostelError


class ListenError(PostelError):
    """A web listener could not be started (address and port in the message)."""


class EditError(PostelError):
    """A change to the configuration files was refused (file and reason in the message)."""
