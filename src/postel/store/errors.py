"""Errors of the account and message store; each message names what and where."""

from __future__ import annotations

from postel.errors import PostelError


class StoreError(PostelError):
    """Base of store errors."""


class UnknownAccount(StoreError):
    """The account name is invalid or not configured."""


class MailboxNotFound(StoreError):
    """No mailbox of that name in the account."""


class MailboxExists(StoreError):
    """A mailbox of that name already exists."""


class InvalidMailboxName(StoreError):
    """The mailbox name is empty, too long, or has forbidden characters."""


class MessageNotFound(StoreError):
    """No message with that id in the account."""


class InvalidFlag(StoreError):
    """A flag or keyword that is not allowed (RFC 9051 §2.3.2)."""


class CredentialsError(StoreError):
    """Problems with auth.db or a password that cannot be stored."""
