"""Errors of the outgoing queue."""

from __future__ import annotations


class QueueError(Exception):
    """Base of queue errors; the message says what and where."""


class EntryNotFound(QueueError):
    """No queue entry with the given id."""


class BadMessage(QueueError):
    """A message to queue is unusable (missing file, bad address)."""
