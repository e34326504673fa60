"""Errors of postel.clientsetup."""

from __future__ import annotations

from postel.errors import InputError


class BadSetupRequest(InputError):
    """A client's setup request that cannot be answered: a malformed address or XML
    body, or a request too large (``where`` names the parameter or element)."""
