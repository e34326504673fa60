"""Errors of postel.metrics."""

from __future__ import annotations

from postel.errors import PostelError


class MetricsError(PostelError):
    """Base of postel.metrics errors."""


class MetricsListenError(MetricsError):
    """The metrics listener could not be started (address and port in the message)."""
