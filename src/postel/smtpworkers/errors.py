"""Errors of the SMTP worker processes."""

from __future__ import annotations

from postel.errors import PostelError


class WorkerStartError(PostelError):
    """A worker did not come up (it said why, exited, or did not answer in time)."""
