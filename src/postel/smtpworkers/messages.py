"""Lines a worker writes to the main process on its stdout pipe."""

from __future__ import annotations

READY = b"ready"  # listening on every port
ERROR = b"error"  # "error <kind> <text>": could not start (kind: bind, config, other)
WAKE = b"wake"  # something was queued: the queue loop should look now
