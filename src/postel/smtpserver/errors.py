"""Errors of the SMTP server.

A submitter refuses a message by raising postel.errors.SMTPReplyError with
the reply the SMTP (or webmail) client gets.
"""

from __future__ import annotations

from postel.errors import PostelError


class BindError(PostelError):
    """A configured listener address/port could not be bound."""


class ListenerConfigError(PostelError):
    """A listener cannot be started as configured (e.g. TLS files unusable)."""
