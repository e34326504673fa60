"""Errors of the SMTP client.

deliver_session never raises for remote problems: the failure is *returned*
in SessionResult.error as a postel.errors.SMTPReplyError. Its ``code`` is the
peer's reply code, or 0 when the failure is not a reply (connection, TLS,
local decision); ``enhanced`` is the RFC 3463 status code; ``text`` says what
happened and at which step. Connection problems, timeouts, TLS failures and
4xx replies are temporary (RFC 5321 §4.2.1).
"""

from __future__ import annotations

from postel.errors import SMTPReplyError


class ProtocolError(SMTPReplyError):
    """The peer broke the SMTP protocol (unparsable or oversized reply): temporary."""

    def __init__(self, message: str) -> None:
        super().__init__(0, "4.5.0", message)
