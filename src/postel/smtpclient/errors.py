"""Errors of the SMTP client.

deliver_session never raises for remote problems: a ClientError is *returned*
in SessionResult.error. It is an exception so callers may raise it on.
"""

from __future__ import annotations


class ClientError(Exception):
    """A failed delivery attempt (or part of one).

    ``permanent`` is True for 5xx replies and local decisions that will not change
    on retry (RFC 5321 §4.2.1); connection problems, timeouts, TLS failures and
    4xx replies are temporary. ``code`` is the SMTP reply code from the peer, or
    0 when the failure is not a reply (connection, TLS, local decision);
    ``enhanced`` the RFC 3463 status code ("" if none); ``message`` says what
    happened and at which step.
    """

    def __init__(self, *, permanent: bool, code: int, enhanced: str, message: str) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.code = code
        self.enhanced = enhanced
        self.message = message

    @property
    def temporary(self) -> bool:
        return not self.permanent

    def __repr__(self) -> str:
        kind = "permanent" if self.permanent else "temporary"
        return f"ClientError({kind}, {self.code}, {self.enhanced!r}, {self.message!r})"

    def __str__(self) -> str:
        parts = [str(self.code)] if self.code else []
        if self.enhanced:
            parts.append(self.enhanced)
        parts.append(self.message)
        return " ".join(parts)


class ProtocolError(ClientError):
    """The peer broke the SMTP protocol (unparsable or oversized reply): temporary."""

    def __init__(self, message: str) -> None:
        super().__init__(permanent=False, code=0, enhanced="4.5.0", message=message)
