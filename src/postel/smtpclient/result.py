"""What one SMTP session found out and achieved."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from postel.dane import VerifyResult
from postel.errors import SMTPReplyError
from postel.tlsrpt.report import FailureDetails


class DataReply(NamedTuple):
    """The reply to the end of DATA: code, enhanced status ("" if none), text."""

    code: int
    enhanced: str
    text: str


@dataclass
class RcptResult:
    """The peer's reply to RCPT TO for one recipient (or a local decision, code 0)."""

    rcpt: str
    code: int
    enhanced: str
    text: str
    accepted: bool


Status = Literal["delivered", "temporary", "permanent"]


@dataclass
class SessionResult:
    """Everything a delivery attempt to one host IP produced.

    TLS reporting (RFC 8460, docs/tls-reporting.md): ``pkix_failure`` belongs on
    the recipient-domain result, ``dane_failure`` on the host result,
    ``tls_failure`` (handshake failure, starttls-not-supported, alert after the
    handshake) on both, as does the success counted by ``tls_success``.
    ``verification_failed`` is set when the session was ended because an
    enforced PKIX or DANE check failed (then the failure is in pkix_failure or
    dane_failure). ``reused``: the session continued a cached connection; its
    TLS fields are the connection's, counted for TLS reporting when it was
    made (docs/tls-reporting.md). ``error`` is set when the session failed as a whole (before or
    during the transaction), recipient-level rejections are in ``rcpts``.
    """

    host: str
    ip: str
    port: int
    connected: bool = False
    banner: str = ""
    receiving_mx_helo: str = ""
    extensions: dict[str, str] = field(default_factory=dict)
    tls: bool = False
    tls_version: str = ""
    cipher: str = ""
    starttls_offered: bool = False
    requiretls_offered: bool = False
    pkix_ok: bool | None = None
    pkix_failure: FailureDetails | None = None
    dane: VerifyResult | None = None
    dane_failure: FailureDetails | None = None
    tls_failure: FailureDetails | None = None
    tls_success: bool = False
    reused: bool = False  # continued a cached connection (smtpclient.scache)
    verification_failed: bool = False
    rcpts: list[RcptResult] = field(default_factory=list)
    data_reply: DataReply | None = None
    error: SMTPReplyError | None = None

    @property
    def delivered(self) -> list[str]:
        """Recipients the peer accepted the message for (2xx after DATA)."""
        if self.error is not None or self.data_reply is None or self.data_reply.code // 100 != 2:
            return []
        return [r.rcpt for r in self.rcpts if r.accepted]

    def outcome(self, rcpt: str) -> tuple[Status, int, str, str]:
        """(status, code, enhanced, message) for one recipient of this session."""
        res = next((r for r in self.rcpts if r.rcpt == rcpt), None)
        if res is not None and not res.accepted:
            status: Status = "permanent" if res.code >= 500 else "temporary"
            return status, res.code, res.enhanced, res.text
        if self.error is not None:
            err = self.error
            return (
                ("permanent" if err.permanent else "temporary"),
                err.code,
                err.enhanced or "",
                err.text,
            )
        if res is not None and self.data_reply is not None:
            d = self.data_reply
            if d.code // 100 == 2:
                return "delivered", d.code, d.enhanced, d.text
            return ("permanent" if d.code >= 500 else "temporary"), d.code, d.enhanced, d.text
        return "temporary", 0, "4.4.0", "recipient not attempted"
