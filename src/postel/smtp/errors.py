"""Errors of the shared SMTP pieces."""

from __future__ import annotations


class SMTPError(Exception):
    """Base of every error raised by postel.smtp."""


class AddressError(SMTPError):
    """An address or path that does not follow RFC 5321 §4.1.2 / RFC 6531.

    ``offset`` is the position in the input where the problem was found.
    ``needs_smtputf8`` is set when the address would be valid with SMTPUTF8.
    """

    def __init__(self, message: str, text: str, offset: int, *, needs_smtputf8: bool = False):
        super().__init__(f"{message} at offset {offset} in {text!r}")
        self.reason = message
        self.text = text
        self.offset = offset
        self.needs_smtputf8 = needs_smtputf8


class ParameterError(SMTPError):
    """A bad MAIL/RCPT parameter; ``code`` and ``enhanced`` give the SMTP reply."""

    def __init__(self, code: int, enhanced: str, message: str):
        super().__init__(message)
        self.code = code
        self.enhanced = enhanced
        self.message = message


class ReplyError(SMTPError):
    """An invalid reply code or enhanced status code (RFC 5321 §4.2, RFC 3463 §2)."""
