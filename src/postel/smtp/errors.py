"""Errors of the shared SMTP pieces."""

from __future__ import annotations

from postel.errors import InputError, PostelError, SMTPReplyError


class SMTPError(PostelError):
    """Base of every error raised by postel.smtp."""


class AddressError(SMTPError, InputError):
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


class ParameterError(SMTPError, SMTPReplyError):
    """A bad MAIL/RCPT path or parameter, with the reply that refuses it."""


class ReplyError(SMTPError):
    """An invalid reply code or enhanced status code (RFC 5321 §4.2, RFC 3463 §2)."""
