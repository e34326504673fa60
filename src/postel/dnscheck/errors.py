"""Errors of the DNS check."""

from __future__ import annotations


class DNSCheckError(Exception):
    """Base of postel.dnscheck errors (a check that could not run at all)."""


class UnknownDomain(DNSCheckError):
    """The domain to check is not configured in domains.toml."""
