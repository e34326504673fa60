"""Errors of the outgoing queue; messages say what and where."""

from __future__ import annotations

from postel.errors import InputError, PostelError


class EntryNotFound(PostelError):
    """No queue entry with the given id."""


class BadMessage(InputError):
    """A message to queue is unusable (missing file, bad address)."""


class QueueUnavailable(PostelError):
    """The queue's store cannot be reached for now (a shared database down
    or restarting); the runner waits and tries again."""
