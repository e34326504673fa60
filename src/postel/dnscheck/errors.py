"""Errors of the DNS check."""

from __future__ import annotations

from postel.errors import PostelError


class UnknownDomain(PostelError):
    """The domain to check is not configured in domains.toml."""
