"""IMAP server: IMAP4rev2 (RFC 9051) and IMAP4rev1 (RFC 3501) over the account
store; docs/imap.md says what is supported."""

from postel.imapserver.errors import IMAPServerError, ParseError
from postel.imapserver.service import IMAPService

__all__ = ["IMAPServerError", "IMAPService", "ParseError"]
