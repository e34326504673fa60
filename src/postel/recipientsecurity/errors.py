"""Errors of recipient security evaluation."""

from __future__ import annotations

from postel.errors import InputError


class BadAddress(InputError):
    """The recipient is not a usable e-mail address (the address and why in the message)."""
