"""The outgoing queue: the store of entries (queue/index.db + queue/msg/),
the runner (the delivery loop with retries over days and DSNs, RFC 3464),
the recorder of attempts' outcomes and the Submitter for the SMTP server."""

from postel.queue.db import QueueDB
from postel.queue.entries import Deferral, QueueEntries, SQLiteQueueEntries
from postel.queue.errors import BadMessage, EntryNotFound
from postel.queue.model import Entry, QueuedMessage
from postel.queue.recorder import AttemptRecord, OutcomeRecorder
from postel.queue.runner import QueueRunner
from postel.queue.submitter import QueueSubmitter

__all__ = [
    "AttemptRecord",
    "BadMessage",
    "Deferral",
    "Entry",
    "EntryNotFound",
    "OutcomeRecorder",
    "QueueDB",
    "QueueEntries",
    "QueueRunner",
    "QueueSubmitter",
    "QueuedMessage",
    "SQLiteQueueEntries",
]
