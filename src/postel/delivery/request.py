"""What the queue asks for and what it gets back."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Status = Literal["delivered", "temporary", "permanent"]


@dataclass
class DeliveryRequest:
    """One message to the recipients of one domain.

    ``tls_required_no``: the message has "TLS-Required: No" (RFC 8689 §5).
    ``is_tlsrpt`` / ``is_dmarc_report``: the message is such a report
    (decides send_report of the recorded TLS results, docs/tls-reporting.md).
    """

    domain: str
    mail_from: str
    rcpts: list[str]
    message: Path
    size: int = 0
    requiretls: bool = False
    tls_required_no: bool = False
    is_tlsrpt: bool = False
    is_dmarc_report: bool = False
    sender_account: str | None = None
    smtputf8: bool = False
    eightbit: bool = False
    attempt: int = 1


@dataclass
class RecipientOutcome:
    """The result for one recipient: code/enhanced/message for a DSN (RFC 3464)."""

    rcpt: str
    status: Status
    code: int
    enhanced: str
    message: str
    remote_mta: str = ""
