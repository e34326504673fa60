"""The outgoing queue: queue/index.db + queue/msg/<bucket>/<id>,
the delivery loop with retries over days, DSNs (RFC 3464) and the Submitter
for the SMTP server."""

from postel.queue.db import QueueDB
from postel.queue.errors import BadMessage, EntryNotFound
from postel.queue.model import Entry, QueuedMessage
from postel.queue.queue import Queue
from postel.queue.submitter import QueueSubmitter

__all__ = [
    "BadMessage",
    "Entry",
    "EntryNotFound",
    "Queue",
    "QueueDB",
    "QueueSubmitter",
    "QueuedMessage",
]
