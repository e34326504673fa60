"""Errors of postel.metrics."""

from __future__ import annotations


class MetricsError(Exception):
    """Base of postel.metrics errors."""


class MetricsListenError(MetricsError):
    """The metrics listener could not be started (address and port in the message)."""
