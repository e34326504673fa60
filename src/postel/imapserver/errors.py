"""Errors of the IMAP server; each message says what and where."""

from __future__ import annotations


class IMAPServerError(Exception):
    """Base of the IMAP server's errors."""


class ParseError(IMAPServerError):
    """A command that does not follow the grammar (RFC 9051 §9): a tagged BAD.

    *tag* is the command's tag when it could be read ("*" otherwise)."""

    def __init__(self, message: str, tag: str = "*") -> None:
        super().__init__(message)
        self.tag = tag


class ListenerConfigError(IMAPServerError):
    """An IMAP port configured on a listener without a certificate."""
