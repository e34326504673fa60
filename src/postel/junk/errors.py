"""Errors of the junk filter's outside checks."""

from __future__ import annotations

from postel.errors import InputError


class RspamdError(InputError):
    """rspamd's answer could not be used (where: the URL asked)."""
