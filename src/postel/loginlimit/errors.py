"""Errors of the login limiter; each says what and where."""

from __future__ import annotations

from postel.errors import PostelError


class LoginLimitError(PostelError):
    """Base: a login attempt may not be checked now; try again in *retry_after* s."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TooManyAttempts(LoginLimitError):
    """Too many recent failures for this client, account, or both."""


class LimiterUnavailable(LoginLimitError):
    """The limiter's database could not be read or written: refused, not unchecked."""
