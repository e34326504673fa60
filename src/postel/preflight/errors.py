"""Errors of the start-up checks."""

from __future__ import annotations

from postel.errors import PostelError


class StartupError(PostelError):
    """An operator's mistake found at start: one line saying what, where and what to do."""


class PortInUseError(StartupError):
    """Another program listens on a configured address and port."""
