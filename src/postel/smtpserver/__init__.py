"""SMTP server: incoming mail (port 25) and submission (587 STARTTLS, 465 TLS).

``SMTPService(cfg, store, resolver, submitter)`` runs every configured SMTP
port; submitted mail goes to a Submitter (``LocalSubmitter`` until the queue
exists).
"""

from postel.smtpserver.errors import BindError, ListenerConfigError
from postel.smtpserver.service import SMTPService
from postel.smtpserver.submit import LocalSubmitter, Submitter

__all__ = [
    "BindError",
    "ListenerConfigError",
    "LocalSubmitter",
    "SMTPService",
    "Submitter",
]
