"""What the queue asks for and what it gets back (typed: no Any at this seam)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from postel.tlsrptresultdb.record import AttemptResults

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


@dataclass(frozen=True)
class RecipientOutcome:
    """The result for one recipient: code/enhanced/message for a DSN (RFC 3464)."""

    rcpt: str
    status: Status
    code: int
    enhanced: str
    message: str
    remote_mta: str = ""


@dataclass(frozen=True)
class TLSAttempt:
    """The RFC 8460 results of one attempt, as the recorder stores them:
    ``send_report`` says whether they go into the daily reports
    (docs/tls-reporting.md, Recording)."""

    results: AttemptResults
    send_report: bool


@dataclass(frozen=True)
class DomainSecurity:
    """What a delivered session showed of a recipient domain, remembered by the
    sender's account (docs/delivery-policy.md, After the session)."""

    account: str
    domain: str
    starttls: bool
    requiretls: bool


@dataclass(frozen=True)
class DeliveryOutcome:
    """What one delivery attempt returns; the deliverer itself writes nothing.

    ``recipients``: one outcome per recipient of the request. ``tls_reports``:
    the attempt's TLS results to record for RFC 8460 reports (none when TLS
    reporting is off, for address literals, or without an SMTP attempt).
    ``learned``: domain-security facts for the sender's account.
    """

    recipients: tuple[RecipientOutcome, ...]
    tls_reports: tuple[TLSAttempt, ...] = ()
    learned: tuple[DomainSecurity, ...] = ()
