"""Errors of the IMAP server; each message says what and where."""

from __future__ import annotations

from postel.errors import InputError, PostelError


class IMAPServerError(PostelError):
    """Base of the IMAP server's errors."""


class ParseError(IMAPServerError, InputError):
    """A command that does not follow the grammar (RFC 9051 §9): a tagged BAD.

    *tag* is the command's tag when it could be read ("*" otherwise)."""

    def __init__(self, message: str, tag: str = "*") -> None:
        super().__init__(message)
        self.tag = tag
