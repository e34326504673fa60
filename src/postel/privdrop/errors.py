"""Errors of the privilege drop."""

from __future__ import annotations


class PrivDropError(Exception):
    """The configured user cannot be run as: one line naming it and what to do."""
