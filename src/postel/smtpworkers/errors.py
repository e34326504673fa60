"""Errors of the SMTP worker processes."""

from __future__ import annotations


class WorkerError(Exception):
    """Base of every error raised by postel.smtpworkers."""


class WorkerStartError(WorkerError):
    """A worker did not come up (it said why, exited, or did not answer in time)."""
