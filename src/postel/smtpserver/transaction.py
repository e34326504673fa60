"""One mail transaction (MAIL, RCPT..., DATA) with what is known of the session."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from postel.smtp.address import Address
from postel.smtp.params import MailParams
from postel.store.routing import LocalRecipient


@dataclass
class SessionInfo:
    """Facts about the client session, for the Received header and checks."""

    ip: str
    helo: str
    ehlo: bool
    rdns: str | None
    cid: str
    tls_version: str | None = None
    tls_cipher: str | None = None
    account: str | None = None  # authenticated account (submission)


@dataclass
class Transaction:
    sender: Address | None
    params: MailParams
    # Incoming: resolved local recipients. Submission: any addresses.
    local: list[LocalRecipient] = field(default_factory=list)
    recipients: list[Address] = field(default_factory=list)
    started: datetime | None = None
