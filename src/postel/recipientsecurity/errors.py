"""Errors of recipient security evaluation."""

from __future__ import annotations


class RecipientSecurityError(Exception):
    """Base of postel.recipientsecurity errors."""


class BadAddress(RecipientSecurityError):
    """The recipient is not a usable e-mail address (the address and why in the message)."""
