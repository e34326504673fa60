"""Errors of the SMTP server."""

from __future__ import annotations


class SMTPServerError(Exception):
    """Base of every error raised by postel.smtpserver."""


class BindError(SMTPServerError):
    """A configured listener address/port could not be bound."""


class ListenerConfigError(SMTPServerError):
    """A listener cannot be started as configured (e.g. TLS files unusable)."""


class SubmitError(SMTPServerError):
    """A submitter refuses a message; the SMTP client gets code/enhanced/text."""

    def __init__(self, code: int, enhanced: str, text: str):
        super().__init__(f"{code} {enhanced} {text}")
        self.code = code
        self.enhanced = enhanced
        self.text = text
