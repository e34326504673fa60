"""Errors of postel.clientsetup."""

from __future__ import annotations

from postel.errors import InputError, LimitError


class BadSetupRequest(InputError):
    """A client's setup request that cannot be answered: a malformed address or XML
    body (``where`` names the parameter or element)."""


class SetupRequestTooLarge(LimitError):
    """A setup request body over its limit (bytes in the message)."""
