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


class UnsupportedSpecialUse(StoreError):
    """A special use (RFC 6154 §2) the store does not give mailboxes."""


class SpecialUseTaken(StoreError):
    """Another mailbox of the account has that special use already."""


class InvalidMailboxName(StoreError):
    """The mailbox name is empty, too long, or has forbidden characters."""


class MessageNotFound(StoreError):
    """No message with that id in the account."""


class InvalidFlag(StoreError):
    """A flag or keyword that is not allowed (RFC 9051 §2.3.2)."""


class OverQuota(StoreError):
    """A delivery would take an account beyond its quota (domains.toml
    ``quota``, bytes): *full* when the account is at or over it already, so
    no message fits (SMTP 452 4.2.2), else this message is too big for the
    room left (552 5.2.2; RFC 5321 §4.5.3.1.10, RFC 3463 §3.3)."""

    def __init__(self, account: str, used: int, quota: int, size: int) -> None:
        super().__init__(
            f"account {account!r} over quota: {used} of {quota} bytes used, message of {size} bytes"
        )
        self.account = account
        self.used = used
        self.quota = quota
        self.size = size

    @property
    def full(self) -> bool:
        return self.used >= self.quota


class CredentialsError(StoreError):
    """Problems with auth.db or a password that cannot be stored."""


class StoreUnavailable(StoreError):
    """The store cannot be reached for now (a shared database down or
    restarting): callers answer with a temporary failure (SMTP 4xx, IMAP NO
    [UNAVAILABLE]) and log one line."""
