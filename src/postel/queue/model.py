"""Queued messages and entries as read from queue/index.db."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Protocol


class RowLike(Protocol):
    def __getitem__(self, key: str) -> Any: ...


def iso(t: dt.datetime) -> str:
    """Fixed-width UTC ISO time: compares correctly as text in SQL."""
    return t.astimezone(dt.UTC).isoformat(timespec="microseconds")


def parse_iso(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


@dataclass(frozen=True)
class QueuedMessage:
    id: int
    created: dt.datetime
    sender_account: str  # "" for mail forwarded by an alias
    mail_from: str  # "" is the null reverse-path
    size: int
    requiretls: bool
    tls_required_no: bool  # "TLS-Required: No" header, RFC 8689 §5
    is_tlsrpt: bool  # a TLS report (TLS-Report-Domain header, RFC 8460 §5.3)
    is_dmarc_report: bool
    smtputf8: bool
    eightbit: bool
    subject: str = ""
    message_id: str = ""

    @classmethod
    def from_row(cls, r: RowLike) -> QueuedMessage:
        return cls(
            id=int(r["id"]),
            created=parse_iso(r["created"]),
            sender_account=r["sender_account"],
            mail_from=r["mail_from"],
            size=int(r["size"]),
            requiretls=bool(r["requiretls"]),
            tls_required_no=bool(r["tls_required_no"]),
            is_tlsrpt=bool(r["is_tlsrpt"]),
            is_dmarc_report=bool(r["is_dmarc_report"]),
            smtputf8=bool(r["smtputf8"]),
            eightbit=bool(r["eightbit"]),
            subject=r["subject"],
            message_id=r["message_id"],
        )


@dataclass(frozen=True)
class Entry:
    """One recipient of one queued message."""

    id: int
    msg: QueuedMessage
    rcpt: str
    domain: str
    created: dt.datetime
    attempts: int
    max_attempts: int
    next_attempt: dt.datetime
    last_attempt: dt.datetime | None
    last_error: str
    last_code: int
    last_enhanced: str
    remote_mta: str
    hold: bool
    dsn_sent_delay: bool

    @classmethod
    def from_row(cls, r: RowLike, msg: QueuedMessage) -> Entry:
        return cls(
            id=int(r["id"]),
            msg=msg,
            rcpt=r["rcpt"],
            domain=r["domain"],
            created=parse_iso(r["created"]),
            attempts=int(r["attempts"]),
            max_attempts=int(r["max_attempts"]),
            next_attempt=parse_iso(r["next_attempt"]),
            last_attempt=parse_iso(r["last_attempt"]) if r["last_attempt"] else None,
            last_error=r["last_error"],
            last_code=int(r["last_code"]),
            last_enhanced=r["last_enhanced"],
            remote_mta=r["remote_mta"],
            hold=bool(r["hold"]),
            dsn_sent_delay=bool(r["dsn_sent_delay"]),
        )

    def to_json(self) -> dict[str, Any]:
        m = self.msg
        return {
            "id": self.id,
            "msg_id": m.id,
            "created": iso(self.created),
            "sender_account": m.sender_account,
            "mail_from": m.mail_from,
            "rcpt": self.rcpt,
            "domain": self.domain,
            "size": m.size,
            "subject": m.subject,
            "requiretls": m.requiretls,
            "tls_required_no": m.tls_required_no,
            "is_tlsrpt": m.is_tlsrpt,
            "is_dmarc_report": m.is_dmarc_report,
            "smtputf8": m.smtputf8,
            "eightbit": m.eightbit,
            "attempts": self.attempts,
            "max_attempts": self.max_attempts,
            "next_attempt": iso(self.next_attempt),
            "last_attempt": iso(self.last_attempt) if self.last_attempt else None,
            "last_error": self.last_error,
            "hold": self.hold,
            "dsn_sent_delay": self.dsn_sent_delay,
        }
