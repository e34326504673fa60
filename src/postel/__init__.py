"""postel: a secure, low-maintenance mail server for your own domains."""

from postel import logsafety

__version__ = "0.1.1"

# Before any postel module creates its logger: a bad logging call must never
# abort an SMTP session, a delivery or a report run (postel.logsafety).
logsafety.install()
